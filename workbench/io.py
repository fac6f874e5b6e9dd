"""Files in and out: atomic writes (a reader sees the old file or the new one, never half of
either) and the one JSONL reader, whose errors name file:line."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import MISSING, asdict, fields, is_dataclass
from pathlib import Path
from typing import Any

from workbench.errors import CorpusError, Problems, WorkbenchError

__all__ = ["Record", "append_jsonl", "atomic_dir", "iter_jsonl", "read_jsonl", "to_jsonable", "write_bytes",
           "write_json", "write_jsonl", "write_text"]


class Record:
    """The one record idiom: a dataclass that mixes this in is saved as ``to_dict()`` and loaded with
    ``from_dict()``, which names missing required fields and ignores unknown keys (so a file
    written by a newer version still loads). Records holding records override ``from_dict``."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]):
        if not isinstance(d, dict):
            raise WorkbenchError(f"A {cls.__name__} record must be a JSON object, not {type(d).__name__}.")
        fs = fields(cls)
        missing = [f.name for f in fs if f.name not in d and f.default is MISSING and f.default_factory is MISSING]
        if missing:
            raise WorkbenchError(f"A {cls.__name__} record lacks {', '.join(missing)}.",
                                 fix=f"save {cls.__name__} records with their to_dict()")
        known = {f.name for f in fs}
        return cls(**{k: v for k, v in d.items() if k in known})


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_bytes(path: str | Path, data: bytes) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    umask = os.umask(0)
    os.umask(umask)
    os.fchmod(fd, 0o666 & ~umask)  # mkstemp makes 0600; a user's file gets the usual permissions
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)
    return path


def write_text(path: str | Path, text: str) -> Path:
    return write_bytes(path, text.encode("utf-8"))


def to_jsonable(obj: Any) -> Any:
    return asdict(obj) if is_dataclass(obj) and not isinstance(obj, type) else obj


def write_json(path: str | Path, obj: Any) -> Path:
    return write_text(path, json.dumps(to_jsonable(obj), indent=2, ensure_ascii=False) + "\n")


def write_jsonl(path: str | Path, rows: Iterable[Any]) -> Path:
    lines = (json.dumps(to_jsonable(r), ensure_ascii=False) for r in rows)
    return write_text(path, "".join(line + "\n" for line in lines))


def append_jsonl(path: str | Path, row: Any) -> Path:
    """Append one record as a single write + fsync, so a crash never leaves half a line."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    line = (json.dumps(to_jsonable(row), ensure_ascii=False) + "\n").encode("utf-8")
    with open(path, "ab") as fh:
        fh.write(line)
        fh.flush()
        os.fsync(fh.fileno())
    return path


@contextmanager
def atomic_dir(path: str | Path) -> Iterator[Path]:
    """Build a directory in a sibling temp dir; it replaces ``path`` only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o777 & ~umask)  # mkdtemp makes 0700: the finished folder gets the usual permissions
    try:
        yield tmp
        if path.exists():
            old = path.with_name(f".{path.name}.old-{os.getpid()}")
            os.replace(path, old)
            os.replace(tmp, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, path)
        _fsync_dir(path.parent)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def iter_jsonl(path: str | Path, problems: Problems | None = None, *,
               fix: str = "each line must be one complete JSON object") -> Iterator[tuple[int, dict]]:
    """(line number, object) for each non-blank line. A bad line is reported at file:line: raised
    at once, or collected and skipped when ``problems`` is a non-strict ``Problems``."""
    path = Path(path)
    problems = problems if problems is not None else Problems(strict=True)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise CorpusError(f"Cannot read {path}: {exc.strerror}", where=str(path), fix="check the path") from exc
    for n, raw in enumerate(data.splitlines(), 1):
        if not raw.strip():
            continue
        try:
            obj = json.loads(raw.decode("utf-8"))
        except UnicodeDecodeError as exc:
            problems.add(path, n, f"not UTF-8 text (byte 0x{raw[exc.start]:02x} at column {exc.start + 1})",
                         "save the file as UTF-8")
            continue
        except json.JSONDecodeError as exc:
            problems.add(path, n, f"not valid JSON ({exc.msg} at column {exc.colno})", fix)
            continue
        if not isinstance(obj, dict):
            problems.add(path, n, "line is not a JSON object", 'wrap it as {"id": …, …}')
            continue
        yield n, obj


def read_jsonl(path: str | Path, cls: type | None = None, *, missing_ok: bool = False,
               fix: str = "each line must be one complete JSON object") -> list:
    """Every record of a JSONL file: dicts, or ``cls.from_dict(obj)`` for a record type. A line that
    is not JSON, or does not fit ``cls``, raises ``CorpusError`` naming file:line."""
    path = Path(path)
    if missing_ok and not path.is_file():
        return []
    out = []
    for n, obj in iter_jsonl(path, fix=fix):
        if cls is None:
            out.append(obj)
            continue
        try:
            out.append(cls.from_dict(obj))
        except WorkbenchError as exc:
            raise CorpusError(exc.what, where=f"{path}:{n}", fix=exc.fix or fix) from exc
        except (TypeError, KeyError, ValueError) as exc:
            raise CorpusError(f"not a {cls.__name__} record: {exc}", where=f"{path}:{n}", fix=fix) from exc
    return out
