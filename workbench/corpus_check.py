"""``workbench corpora check``: every corpus file validated, counted, and screened for leakage.

Leakage: an evaluation query that nearly repeats a training dialogue would flatter the fine-tuned
model. We embed each query and every user turn of the dialogues with MiniLM and flag a pair whose
cosine reaches NEAR_DUPLICATE. Measured here: hand-written paraphrases of two training turns
(same request, every sentence reworded) scored 0.84 and 0.85, while the closest pair among the
shipped queries and dialogues, written separately on the same topics, scores 0.71. 0.80 sits
between the two; the check prints the highest pair so the margin stays visible.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from workbench import corpora as C
from workbench import paths
from workbench.behaviours.coded import load_mi_jsonl, mi_files
from workbench.corpus_readers import reported
from workbench.errors import Problem, Problems
from workbench.inventories import load_inventories, load_personas
from workbench.safety_corpus import load_screening

__all__ = ["CARD_WORDS", "MIN_COUNTS", "NEAR_DUPLICATE", "CheckReport", "check_all"]

NEAR_DUPLICATE = 0.80
MIN_COUNTS = {"cards": 60, "dialogues": 240, "queries": 60, "screening": 1500, "MI utterances": 1000}
CARD_WORDS = (150, 400)


@dataclass
class CheckReport:
    problems: list[Problem] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    tables: dict[str, Counter] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def text(self) -> str:
        lines = ["Corpora check", "", "Counts:"]
        lines += [f"  {k:<22} {v}" for k, v in self.counts.items()]
        for name, table in self.tables.items():
            lines.append(f"\n{name}:")
            lines += [f"  {k:<24} {v}" for k, v in sorted(table.items(), key=lambda kv: (-kv[1], kv[0]))]
        if self.notes:
            lines += [""] + self.notes
        lines.append("")
        if self.problems:
            lines.append(f"{len(self.problems)} problem(s):")
            lines += [f"  {p}" for p in self.problems]
        else:
            lines.append("OK: no problems found.")
        return "\n".join(lines)


def _guard(problems: Problems, fn, *args, **kw):
    """Run a loader; a fatal error in one file becomes one problem, not the end of the check."""
    return reported(problems, fn, *args, **kw)


def check_all(root: str | Path | None = None, near_duplicate_threshold: float | None = None) -> CheckReport:
    root = Path(root) if root else paths.corpora_dir()
    threshold = near_duplicate_threshold or NEAR_DUPLICATE
    pr = Problems(strict=False)
    rep = CheckReport()

    cards = _guard(pr, C.load_cards, root / "knowledge", pr) or []
    for c in cards:
        words = len(c.body.split())
        if not CARD_WORDS[0] <= words <= CARD_WORDS[1]:
            pr.add(c.path, 1, f"card body has {words} words", f"keep cards within {CARD_WORDS[0]}-{CARD_WORDS[1]}")
    card_ids = {c.id for c in cards}

    dialogues = _guard(pr, C.load_dialogues, root / "dialogues", pr, strict_fields=True) or []
    queries = _guard(pr, C.load_queries, root / "queries", pr, card_ids=card_ids,
                     strict_fields=True) or []
    rubric = _guard(pr, C.load_rubric, root / "rubric" / "tbars.yaml", pr)
    inventories = _guard(pr, load_inventories, root / "inventories", pr) or {}
    for inv in inventories.values():
        by_trait = Counter(i.trait for i in inv.items)
        for trait in by_trait:
            keys = Counter(i.key for i in inv.items if i.trait == trait)
            if abs(keys[1] - keys[-1]) > 1:
                pr.add(f"inventories/{inv.name}", None, f"trait {trait} keys unbalanced ({dict(keys)})",
                       "balance positive and reverse-keyed items")
        rep.counts[f"inventory {inv.name} items"] = len(inv.items)
    personas = _guard(pr, load_personas, root / "inventories" / "personas.yaml", pr) or []
    rep.counts["personas"] = len(personas)
    ref_path = root / "inventories" / "reference_profiles.yaml"
    profiles = _guard(pr, C.load_reference_profiles, ref_path) or []
    for p in profiles:
        inv = inventories.get(p.get("inventory"))
        if inv is None:
            pr.add(ref_path, getattr(p, "line", None),
                   f"profile {p.get('name')!r} names unknown inventory {p.get('inventory')!r}",
                   f"use one of: {', '.join(inventories)}")
            continue
        for trait in p.get("traits") if isinstance(p.get("traits"), dict) else {}:
            if trait not in inv.traits:
                pr.add(ref_path, getattr(p, "line", None), f"profile {p.get('name')!r}: unknown trait {trait}",
                       f"use one of: {', '.join(inv.traits)}")
    prompts = _guard(pr, C.load_prompts, root / "prompts" / "library.yaml", pr) or {}
    screening = _guard(pr, load_screening, root / "safety" / "train", pr) or []
    mi = [p for f in mi_files(root / "rubric" / "mi" / "train") for p in (_guard(pr, load_mi_jsonl, f) or [])]
    safety = _guard(pr, C.load_safety_config, root / "safety", pr) or {}
    if safety:
        _check_safety_config(safety, pr)

    multi = sum(1 for d in dialogues if sum(m["role"] == "user" for m in d.messages) > 1)
    rep.counts.update({
        "cards": len(cards), "dialogues": len(dialogues), "multi-turn dialogues": multi,
        "queries": len(queries), "risk queries": sum(q.risk for q in queries),
        "rubric exemplars": len(rubric.exemplars()) if rubric else 0, "prompts": len(prompts),
        "screening": len(screening), "screening with risk": sum(s.risk for s in screening),
        "MI utterances": len(mi),
    })
    for key, need in MIN_COUNTS.items():
        if rep.counts.get(key, 0) < need:
            pr.add(str(root), None, f"only {rep.counts.get(key, 0)} {key}", f"ship at least {need}")
    if dialogues and multi < 0.2 * len(dialogues):
        pr.add(str(root / "dialogues"), None, f"only {multi}/{len(dialogues)} dialogues are multi-turn",
               "make at least 20% multi-turn")
    rep.tables["dialogues per topic"] = Counter(d.topic for d in dialogues)
    rep.tables["dialogues per behaviour"] = Counter(b for d in dialogues for b in d.behaviours)
    rep.tables["queries per topic"] = Counter(q.topic for q in queries)
    rep.tables["screening per level"] = Counter(s.level for s in screening)
    rep.tables["screening per language"] = Counter(s.lang for s in screening)
    rep.tables["screening per category"] = Counter(s.category for s in screening)
    rep.tables["screening per subject"] = Counter(s.subject for s in screening)
    rep.tables["MI questions"] = Counter(p.codes["question"] for p in mi)
    rep.tables["MI reflections"] = Counter(p.codes["reflection"] for p in mi)
    for frozen in sorted((root / "safety" / "frozen").glob("*.jsonl")):
        _frozen_overlap(screening, frozen, pr, "safety/train")
    _frozen_overlap(mi, root / "rubric" / "mi" / "frozen" / "test.jsonl", pr, "rubric/mi/train")

    if queries and dialogues:
        _near_duplicates(queries, dialogues, threshold, pr, rep)
    rep.problems = pr.items
    return rep


def _frozen_overlap(examples, frozen: Path, pr: Problems, where: str) -> None:
    """A training message that is also in the frozen test split spoils its measurement. Only the
    training ids are named: the split's messages are never shown while building the judgment."""
    if not frozen.is_file():
        return
    from workbench.io import iter_jsonl

    def norm(text: str) -> str:
        return " ".join(str(text).casefold().split())

    held = {norm(obj.get("text", "")) for _, obj in iter_jsonl(frozen)}
    for e in examples:
        if norm(e.text) in held:
            pr.add(where, None, f"training message {e.id} is also in the frozen test split {frozen.name}",
                   "remove it from the training files")


def _check_safety_config(safety: dict, pr: Problems) -> None:
    cats = (safety.get("categories") or {})
    ids = [c.get("id") if isinstance(c, dict) else c for c in cats.get("categories") or []]
    if ids != list(C.RISK_CATEGORIES):
        pr.add("safety/categories.yaml", None, f"categories are {ids}", f"expected {list(C.RISK_CATEGORIES)}")
    levels = [lv.get("id") if isinstance(lv, dict) else lv for lv in cats.get("levels") or []]
    if levels and levels != list(C.RISK_LEVELS):
        pr.add("safety/categories.yaml", None, f"levels are {levels}", f"expected {list(C.RISK_LEVELS)}")
    escalation = safety.get("escalation") or {}
    templates = escalation.get("templates", [])
    have = {(t.get("level"), t.get("subject")) for t in templates if isinstance(t, dict)}
    by_category, urgent = escalation.get("by_category") or {}, escalation.get("urgent") or {}
    for subject in ("self", "client", "other"):
        for level in C.RISK_LEVELS[1:]:
            if (level, subject) not in have:
                pr.add("safety/escalation.yaml", None, f"no escalation template for level={level}, subject={subject}",
                       "add one")
        if not urgent.get(subject):
            pr.add("safety/escalation.yaml", None, f"no urgent line for subject={subject}", "add one under urgent:")
        for category in C.RISK_CATEGORIES[1:]:  # suicidal ideation uses the (level, subject) templates
            if not (by_category.get(category) or {}).get(subject):
                pr.add("safety/escalation.yaml", None, f"no escalation text for {category}, subject={subject}",
                       f"add by_category: {category}: {subject}:")
    res = (safety.get("resources") or {})
    locales = res.get("locales", {})
    if res.get("default") not in locales:
        pr.add("safety/resources.yaml", None, f"default locale {res.get('default')!r} is not listed",
               "set default to one of the locales")
    for code, loc in locales.items() if isinstance(locales, dict) else ():
        for need in ("emergency", "crisis_line", "source"):
            if not isinstance(loc, dict) or not loc.get(need):
                pr.add("safety/resources.yaml", getattr(loc, "line", None), f"locale {code} lacks {need}", "add it")


def _near_duplicates(queries, dialogues, threshold, pr: Problems, rep: CheckReport) -> None:
    from workbench.models.embeddings import embed

    turns = [(d.id, m["content"]) for d in dialogues for m in d.messages if m["role"] == "user"]
    q = embed([x.text for x in queries])
    t = embed([text for _, text in turns])
    sims = q @ t.T
    best = sims.argmax(axis=1)
    worst = float(sims.max()) if sims.size else 0.0
    for i, j in enumerate(best):
        if sims[i, j] >= threshold:
            pr.add("queries", None, f"query {queries[i].id} nearly repeats dialogue {turns[j][0]} "
                   f"(cosine {sims[i, j]:.2f})", "rewrite the query or drop it from evaluation")
    rep.notes.append(f"Leakage: highest query-vs-training-turn cosine {worst:.2f} (threshold {threshold:.2f}).")
