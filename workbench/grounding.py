"""What the agent puts in front of the model from the retrieved cards.

A 135M model ignores 1,500 characters of card text in a system prompt, so by default it gets a few short
numbered facts instead: the cards' own ``points`` (written with each card), reranked by their similarity to
the question, at most ``per_card`` from one card. Each fact keeps its card id, so the answer can cite it and
the draft chooser can check which facts the answer used.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from workbench.io import Record

__all__ = ["Fact", "facts", "prompt_block"]


@dataclass
class Fact(Record):
    """One numbered fact given to the model: a card's point, its card and its similarity to the question."""

    n: int
    card: str
    text: str
    score: float


def facts(query: str, cards: Sequence[str], k: int = 5, *, per_card: int = 2) -> list[Fact]:
    """The ``k`` points of ``cards`` closest to ``query`` (cosine of the MiniLM embeddings), at most
    ``per_card`` from one card, in order of similarity. Cards without points give none."""
    from workbench.models.embeddings import embed

    by_id = _points()
    pool = [(c, p) for c in cards if c in by_id for p in by_id[c]]
    if not pool or k <= 0:
        return []
    sims = embed([p for _, p in pool]) @ embed([query])[0]
    chosen: list[Fact] = []
    taken: dict[str, int] = {}
    for i in sorted(range(len(pool)), key=lambda i: -float(sims[i])):
        card, text = pool[i]
        if taken.get(card, 0) < per_card:
            taken[card] = taken.get(card, 0) + 1
            chosen.append(Fact(len(chosen) + 1, card, text, round(float(sims[i]), 4)))
        if len(chosen) == k:
            break
    return chosen


_POINTS: dict[tuple, dict[str, list[str]]] = {}


def _points() -> dict[str, list[str]]:
    """Each card's points, read again only when a card file changed (every agent run asks; parsing the cards
    took 90 ms a call)."""
    from workbench import paths
    from workbench.corpora import load_cards

    root = paths.corpora_dir() / "knowledge"
    key = tuple((str(f), f.stat().st_mtime_ns, f.stat().st_size) for f in sorted(root.rglob("*.md")))
    if key not in _POINTS:
        _POINTS.clear()
        _POINTS[key] = {c.id: list(c.points) for c in load_cards()}
    return _POINTS[key]


def prompt_block(items: Sequence[Fact]) -> str:
    """The facts as the system prompt shows them: one numbered line each, ending with its card id."""
    return "Facts you can use (cite the card id in brackets):\n" + "\n".join(
        f"{f.n}. {f.text} [{f.card}]" for f in items)
