"""One error type that tells the user what went wrong, where, and how to fix it."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["CorpusError", "Problem", "Problems", "WorkbenchError"]


class WorkbenchError(Exception):
    """A problem the user can act on; never a traceback from deep inside a library."""

    def __init__(self, what: str, *, where: str | None = None, fix: str | None = None):
        self.what, self.where, self.fix = what, where, fix
        parts = [what]
        if where:
            parts.append(f"Where: {where}")
        if fix:
            parts.append(f"Fix: {fix}")
        super().__init__("\n".join(parts))


class CorpusError(WorkbenchError):
    """A data file that cannot be used as it is; says file:line and the fix."""


@dataclass
class Problem:
    path: str
    line: int | None
    message: str
    fix: str = ""

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line else self.path
        return f"{where}: {self.message}" + (f" (fix: {self.fix})" if self.fix else "")


class Problems:
    """Raise at the first problem (strict) or collect them all (for ``corpora check``)."""

    def __init__(self, strict: bool = True):
        self.strict, self.items = strict, []

    def add(self, path, line, message, fix="") -> None:
        p = Problem(str(path), line, message, fix)
        if self.strict:
            raise CorpusError(message, where=f"{path}:{line}" if line else str(path), fix=fix or None)
        self.items.append(p)
