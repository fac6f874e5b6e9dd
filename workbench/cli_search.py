"""The ``workbench search`` command: hybrid search of an index, with citations. A hit under
:data:`workbench.retrieval.SCORE_FLOOR` is marked weak, and a search whose every hit is weak says there is no good
match, as notebook 03's search widget does: nonsense queries otherwise printed confident-looking hits."""

from __future__ import annotations

import json
import sys

__all__ = ["add", "no_match_line"]


def no_match_line(best: float, topic: str | None = None) -> str:
    """What to say when even the best hit is under the floor (the widget's words)."""
    from workbench.retrieval import SCORE_FLOOR

    where = f" in topic {topic!r}" if topic else ""
    fix = "other words, or no --topic (any topic)" if topic else "other words"
    return f"No good match{where}: the best hit scores {best:.2f}, below the floor of {SCORE_FLOOR:.2f}. Try {fix}."


def _search(args) -> int:
    from workbench import retrieval

    stale = retrieval.stale_inputs(args.name)
    if stale:
        print(f"warning: index {args.name!r} is stale ({len(stale)} input(s) changed); rebuild with "
              f"workbench index --name {args.name}", file=sys.stderr)
    hits = retrieval.Index(args.name).search(args.query, args.limit, topic=args.topic)
    if not hits:
        print("No results." + (f" Nothing in topic {args.topic!r}." if args.topic else ""), file=sys.stderr)
    elif not any(h.good for h in hits):
        print(no_match_line(hits[0].score, args.topic), file=sys.stderr)
    if args.json:
        print(json.dumps([{**h.__dict__, "citation": h.citation, "good": h.good} for h in hits], indent=2,
                         ensure_ascii=False))
        return 0
    for h in hits:
        weak = "" if h.good else f"  · weak: under {retrieval.SCORE_FLOOR:.2f}, no good match"
        print(f"{h.score:.3f}  {h.citation:<40} {h.heading}{weak}\n       {h.text[:160]}…")
    return 0


def add(sub) -> None:
    """The search command, on the ``workbench`` parser's subcommands."""
    from workbench.retrieval import SCORE_FLOOR

    s = sub.add_parser("search", help="hybrid search of an index, with citations",
                       description=f"Scores run 0-1 (half cosine, half BM25); a hit under {SCORE_FLOOR:.2f} is marked "
                                   "weak: no good match.")
    s.add_argument("query")
    s.add_argument("--name", default="knowledge")
    s.add_argument("--limit", type=int, default=5)
    s.add_argument("--topic", default=None)
    s.add_argument("--json", action="store_true", help="hits as JSON, each with 'good': whether it clears the floor")
    s.set_defaults(func=_search)
