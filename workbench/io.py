"""Files in and out: atomic writes (a reader sees the old file or the new one, never half of
either), the one JSONL reader, whose errors name file:line, SHA-256 checksums remembered per file
version, and ``check_writable`` for a long job to fail before it computes rather than after."""

from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import MISSING, asdict, fields, is_dataclass
from pathlib import Path
from typing import Any

from workbench.errors import CorpusError, Problems, WorkbenchError

__all__ = ["STALE_SECONDS", "Record", "append_jsonl", "atomic_dir", "check_writable", "finite", "iter_jsonl",
           "read_jsonl", "remove_stale", "sha256_file", "to_jsonable", "verify_files", "write_bytes", "write_json",
           "write_jsonl", "write_text"]

STALE_SECONDS = 24 * 3600  # a leftover temp folder older than this belongs to a build that died


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


def _is_leftover(name: str) -> bool:
    """``.<name>.<random>.tmp`` (atomic_dir, write_bytes) or ``.<name>.old-<pid>…`` (atomic_dir's swap)."""
    return name.startswith(".") and (name.endswith(".tmp") or ".old-" in name) and name.count(".") >= 2


def _newest_mtime(p: Path) -> float:
    """The latest change in ``p`` or its direct entries: a build still writing keeps touching them."""
    newest = p.lstat().st_mtime
    if p.is_dir() and not p.is_symlink():
        for child in p.iterdir():
            try:
                newest = max(newest, child.lstat().st_mtime)
            except OSError:
                continue
    return newest


def remove_stale(parent: str | Path, max_age: float = STALE_SECONDS) -> list[Path]:
    """Remove leftovers of killed builds in ``parent`` untouched for ``max_age`` seconds; a fresh one may
    belong to another process building right now, so it stays. Returns what was removed."""
    parent = Path(parent)
    removed: list[Path] = []
    try:
        entries = list(parent.iterdir())
    except OSError:
        return removed
    cutoff = time.time() - max_age
    for p in entries:
        if not _is_leftover(p.name):
            continue
        try:
            if _newest_mtime(p) >= cutoff:
                continue
            if p.is_dir() and not p.is_symlink():
                shutil.rmtree(p)
            else:
                p.unlink()
            removed.append(p)
        except OSError:
            continue  # gone already, or not ours to remove: never a reason to fail a build
    return removed


@contextmanager
def atomic_dir(path: str | Path) -> Iterator[Path]:
    """Build a directory in a sibling temp dir; it replaces ``path`` only if the block succeeds.
    Leftovers of builds killed more than a day ago in the same parent are removed first."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale(path.parent)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o777 & ~umask)  # mkdtemp makes 0700: the finished folder gets the usual permissions
    try:
        yield tmp
        _swap_in(tmp, path)
        _fsync_dir(path.parent)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def _swap_in(tmp: Path, path: Path) -> None:
    """Rename ``tmp`` to ``path``, moving an existing ``path`` aside first; another process doing the same
    at the same moment makes a step fail, so the pair is retried (the last build wins)."""
    aside: list[Path] = []
    try:
        for attempt in range(10):
            try:
                os.replace(tmp, path)  # succeeds when path is absent (or an empty folder)
                return
            except OSError as exc:
                if exc.errno not in (errno.ENOTEMPTY, errno.EEXIST):
                    raise
            old = path.with_name(f".{path.name}.old-{os.getpid()}-{tmp.name.rsplit('.', 2)[-2]}-{attempt}")
            try:
                os.replace(path, old)
                aside.append(old)
            except FileNotFoundError:
                continue  # someone moved it away first
        raise WorkbenchError(f"Could not move the new {path.name} into place: other processes keep replacing it.",
                             where=str(path), fix="run one build of it at a time")
    finally:
        for old in aside:  # only once the new folder is in place (or the swap gave up)
            shutil.rmtree(old, ignore_errors=True)


def check_writable(folder: str | Path, *, fix: str | None = None) -> Path:
    """Create ``folder`` if needed and write a temp file in it, so a long job fails in its first second
    rather than after minutes of work; raises WorkbenchError naming the folder and the fix."""
    folder = Path(folder)
    fix = fix or ("fix the folder's permissions, or write elsewhere: set WORKBENCH_EXPORTS to a writable folder "
                  "(or pass --out)")
    blocker = next((p for p in (folder, *folder.parents) if p.exists() and not p.is_dir()), None)
    if blocker is not None:
        what = "it is a file" if blocker == folder else f"{blocker} is a file, not a folder"
        raise WorkbenchError(f"Cannot write to {folder}: {what}.", where=str(folder), fix=fix)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".write-check.", suffix=".tmp", dir=folder)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise WorkbenchError(f"Cannot write to {folder}: {exc.strerror or exc}.", where=str(folder), fix=fix) from exc
    return folder


# ---- checksums ------------------------------------------------------------------------------------
_DIGESTS: dict[tuple, str] = {}  # (device, inode, size, mtime_ns) -> sha256: a file version is hashed once


def _version(st: os.stat_result) -> tuple:
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


def sha256_file(path: str | Path) -> str:
    """The file's SHA-256 (hex), remembered per file version (inode, size, mtime) for this process: a
    renamed file keeps its digest, a rewritten one is hashed again."""
    path = Path(path)
    key = _version(path.stat())
    digest = _DIGESTS.get(key)
    if digest is None:
        h = hashlib.sha256()
        with open(path, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
        digest = _DIGESTS[key] = h.hexdigest()
    return digest


def verify_files(folder: str | Path, files: dict, *, what: str, fix: str) -> None:
    """Check that every file ``{name: {"size": n, "sha256": hex}}`` in ``folder`` has its recorded bytes;
    raises WorkbenchError naming the first file that differs, ``what`` it belongs to, and the fix."""
    folder = Path(folder)
    for name, want in files.items():
        p = folder / name
        if not isinstance(want, dict) or "sha256" not in want:
            raise WorkbenchError(f"The manifest of {what} records no checksum for {name}, so it cannot be verified.",
                                 where=str(folder / "manifest.json"), fix=fix)
        if not p.is_file():
            raise WorkbenchError(f"{what} lacks {name}, which its manifest lists.", where=str(p), fix=fix)
        size = p.stat().st_size
        if size != want.get("size", size):
            raise WorkbenchError(f"{p.name} of {what} has {size} bytes; its manifest says {want['size']}.",
                                 where=str(p), fix=fix)
        if sha256_file(p) != want["sha256"]:
            raise WorkbenchError(f"{p.name} of {what} is corrupt: its SHA-256 differs from the one recorded when "
                                 "it was written (a changed or damaged byte).", where=str(p), fix=fix)


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


def finite(obj):
    """JSON has no NaN: an undefined statistic is written as null."""
    if isinstance(obj, float) and obj != obj:
        return None
    if isinstance(obj, dict):
        return {k: finite(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [finite(v) for v in obj]
    return obj
