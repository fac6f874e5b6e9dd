"""The crisis screen measured on a labelled file: recall, precision, subject accuracy and recall per
category, each with a bootstrap interval, and every miss and false alarm listed.

The file is JSONL with ``text``, ``risk`` (true/false), ``subject`` (self, client, other, none) and
optionally ``id``, ``category`` and ``level``. Categories are the file's own labels: recall per
category asks whether the screen noticed risk in those messages, whatever it called them, so a file
labelled with a finer taxonomy than the screen's still measures it. This is how a screen is reported
on a frozen split that was never used to build it (``workbench screen --eval FILE``).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from workbench.corpora import RISK_LEVELS, SUBJECTS
from workbench.corpus_readers import boolean, one_of, require
from workbench.errors import Problems
from workbench.io import Record, iter_jsonl

__all__ = ["ScreenEval", "evaluate_file", "format_report"]


@dataclass
class ScreenEval(Record):
    """Each rate is ``{"mean", "ci_low", "ci_high", "n"}`` (a 95 % bootstrap interval over messages)."""

    file: str
    n: int
    n_risk: int
    recall: dict
    precision: dict
    subject_accuracy: dict  # over the risk messages the screen noticed: whose risk it said it was
    per_category: dict[str, dict] = field(default_factory=dict)
    misses: list[dict] = field(default_factory=list)
    false_alarms: list[dict] = field(default_factory=list)
    ms_per_message: float = 0.0
    subject_accuracy_all: dict = field(default_factory=dict)  # over every risk message (a miss counts as wrong)
    level_accuracy: dict = field(default_factory=dict)        # over messages labelled with a level
    per_language: dict[str, dict] = field(default_factory=dict)  # recall per ``lang`` label
    confusion: dict[str, dict] = field(default_factory=dict)  # labelled category → the screen's first category → n


def _read(path: Path) -> list[dict]:
    problems, rows = Problems(strict=True), []
    for n, obj in iter_jsonl(path, problems):
        require(obj, ("text", "risk", "subject"), path, n, problems)
        risk = boolean(obj, "risk", False, path, n, problems)
        one_of(obj["subject"], SUBJECTS, "subject", path, n, problems)
        if "level" in obj:
            one_of(obj["level"], RISK_LEVELS, "level", path, n, problems)
        rows.append({"id": str(obj.get("id", f"line {n}")), "text": str(obj["text"]), "risk": risk,
                     "subject": obj["subject"], "category": str(obj.get("category") or "(none)"),
                     "level": obj.get("level"), "lang": str(obj.get("lang") or "")})
    if not rows:
        problems.add(path, None, "the file holds no messages", "one JSON object per line, with text, risk, subject")
    return rows


def evaluate_file(path: str | Path, *, locale: str | None = None, n_boot: int = 2000, seed: int = 0,
                  progress=None, cancel=None) -> ScreenEval | None:
    """Screen every message of a labelled file and compare with its labels. ``progress(done, total)``
    follows the messages; ``cancel`` (a threading.Event) stops between them and returns None."""
    import time

    from workbench.safety import screen
    from workbench.stats import paired_bootstrap

    path = Path(path)
    rows = _read(path)
    t0 = time.perf_counter()
    got = []
    for r in rows:
        if cancel is not None and cancel.is_set():
            return None
        got.append(screen(r["text"], locale=locale))
        if progress:
            progress(len(got), len(rows))
    ms = 1000 * (time.perf_counter() - t0) / len(rows)

    def rate(hits: list[bool]) -> dict:
        return paired_bootstrap([float(h) for h in hits], n_boot=n_boot, seed=seed, digits=3)

    risky = [(r, g) for r, g in zip(rows, got, strict=True) if r["risk"]]
    flagged = [(r, g) for r, g in zip(rows, got, strict=True) if g.risk]
    by_category: dict[str, list[bool]] = defaultdict(list)
    by_language: dict[str, list[bool]] = defaultdict(list)
    confusion: dict[str, dict] = defaultdict(lambda: defaultdict(int))
    for r, g in zip(rows, got, strict=True):
        if r["risk"]:
            by_category[r["category"]].append(g.risk)
            if r["lang"]:
                by_language[r["lang"]].append(g.risk)
        confusion[r["category"] if r["risk"] else "none"][g.categories[0] if g.risk else "none"] += 1
    levelled = [(r, g) for r, g in zip(rows, got, strict=True) if r["level"]]

    def record(r: dict, g) -> dict:
        return {"id": r["id"], "text": r["text"], "gold": [r["risk"], r["subject"], r["category"]],
                "got": [g.risk, g.level, g.subject, g.categories]}

    return ScreenEval(
        str(path), len(rows), len(risky), rate([g.risk for _, g in risky]), rate([r["risk"] for r, _ in flagged]),
        rate([g.subject == r["subject"] for r, g in risky if g.risk]),
        {c: rate(v) for c, v in sorted(by_category.items())},
        [record(r, g) for r, g in risky if not g.risk],
        [record(r, g) for r, g in zip(rows, got, strict=True) if g.risk and not r["risk"]], round(ms, 1),
        rate([g.risk and g.subject == r["subject"] for r, g in risky]),
        rate([g.level == r["level"] for r, g in levelled]) if levelled else {},
        {lang: rate(v) for lang, v in sorted(by_language.items())},
        {gold: dict(sorted(row.items())) for gold, row in sorted(confusion.items())})


def format_report(ev: ScreenEval) -> str:
    """The evaluation as text: rates with intervals, recall per category, then each miss and false alarm."""
    def fmt(d: dict) -> str:
        if not d["n"]:
            return "n/a (no messages)"
        return f"{d['mean']:.3f}  [{d['ci_low']:.3f}, {d['ci_high']:.3f}]  n={d['n']}"

    lines = [f"{ev.file}: {ev.n} messages, {ev.n_risk} with risk; {ev.ms_per_message} ms a message",
             f"recall            {fmt(ev.recall)}", f"precision         {fmt(ev.precision)}",
             f"subject accuracy  {fmt(ev.subject_accuracy)}  (of the risk noticed)",
             f"                  {fmt(ev.subject_accuracy_all)}  (of all risk)"]
    if ev.level_accuracy:
        lines.append(f"level accuracy    {fmt(ev.level_accuracy)}")
    lines.append("recall per category:")
    lines += [f"  {c:<24}{fmt(d)}" for c, d in ev.per_category.items()]
    if ev.per_language:
        lines.append("recall per language:")
        lines += [f"  {c:<24}{fmt(d)}" for c, d in ev.per_language.items()]
    for title, items in (("misses", ev.misses), ("false alarms", ev.false_alarms)):
        lines.append(f"{title} ({len(items)}):")
        lines += [f"  {m['id']}: {m['text']!r} (labelled {m['gold'][1]}, {m['gold'][2]}; screen said "
                  f"{m['got'][1]}, {m['got'][2]})" for m in items]
    return "\n".join(lines)
