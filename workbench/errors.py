"""One error type that tells the user what went wrong, where, and how to fix it."""

from __future__ import annotations


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
