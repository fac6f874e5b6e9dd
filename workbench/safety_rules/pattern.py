"""How the rule tables are written: alternatives joined into one case-insensitive pattern."""

from __future__ import annotations

import re

__all__ = ["FLAGS", "p"]

FLAGS = re.I | re.U


def p(*alternatives: str) -> re.Pattern:
    """One case-insensitive pattern from alternatives."""
    return re.compile("|".join(f"(?:{a})" for a in alternatives), FLAGS)
