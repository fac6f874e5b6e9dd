"""Small readers and checks shared by the corpus loaders (``corpora``, ``inventories``): text that must
be UTF-8, YAML whose mappings remember their line, the one CSV reader, chat-message parsing (ours and
ShareGPT), and field checks that report to a ``Problems`` at file:line. Every error names the file and
line, so a user never meets a ``UnicodeDecodeError`` or a library traceback that names no file."""

from __future__ import annotations

import codecs
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from workbench.errors import CorpusError, Problem, Problems, WorkbenchError

__all__ = ["SHAREGPT_ROLES", "UTF8_FIX", "boolean", "chat_messages", "corpus_files", "decode_utf8",
           "front_matter_line", "iter_csv", "line_of", "mapping", "one_of", "parse_yaml", "read_text", "read_yaml",
           "reported", "require", "str_list", "unique_ids", "whole_number", "yaml_problem"]

UTF8_FIX = ("save the file as UTF-8 (in most editors: Save As, encoding UTF-8); a byte such as 0xe9 on its own "
            "usually means Latin-1 or Windows-1252 text")


class _LineDict(dict):
    line: int = 0


def _yaml_loader():
    import yaml

    class LineLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # libyaml when present: about 10x faster
        pass

    def construct_mapping(loader, node, deep=False):
        d = _LineDict(loader.construct_mapping(node, deep=deep))
        d.line = node.start_mark.line + 1
        return d

    LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, construct_mapping)
    return LineLoader


def decode_utf8(data: bytes, path, problems: Problems | None = None, *, first_line: int = 1) -> str | None:
    """``data`` as text (a UTF-8 byte-order mark dropped). A byte that is not UTF-8 is reported at
    file:line with its value and column; None when ``problems`` collects instead of raising."""
    if data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8):]
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        start = data.rfind(b"\n", 0, exc.start) + 1
        line = first_line + data.count(b"\n", 0, exc.start)
        col = len(data[start:exc.start].decode("utf-8", "replace")) + 1
        (problems if problems is not None else Problems()).add(
            path, line, f"not UTF-8 text: byte 0x{data[exc.start]:02x} at line {line}, column {col} "
            "(the workbench reads every text file as UTF-8)", UTF8_FIX)
        return None


def read_text(path: str | Path, problems: Problems | None = None) -> str | None:
    """A UTF-8 text file; an unreadable file raises, a bad byte is reported (see :func:`decode_utf8`)."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise CorpusError(f"Cannot read {path}: {exc.strerror}", where=str(path), fix="check the path") from exc
    return decode_utf8(data, path, problems)


def yaml_problem(exc, path, line_offset: int = 0) -> tuple[str, int | None]:
    """A YAML error as (message, line), the line shifted by ``line_offset`` (front matter in a card)."""
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    if mark is None:
        return f"invalid YAML: {problem}", None
    return f"invalid YAML: {problem} (column {mark.column + 1})", mark.line + 1 + line_offset


def parse_yaml(text: str, path, problems: Problems | None = None, *, line_offset: int = 0) -> Any:
    """YAML text (from ``path``, starting ``line_offset`` lines in) whose mappings remember their line;
    an error is reported at file:line: raised, or collected (then None)."""
    import yaml

    try:
        return yaml.load(text, Loader=_yaml_loader())
    except yaml.YAMLError as exc:
        message, line = yaml_problem(exc, path, line_offset)
        (problems if problems is not None else Problems()).add(
            path, line, message, "check indentation and quoting on that line (a value holding ': ' needs quotes)")
        return None


def read_yaml(path: str | Path, problems: Problems | None = None) -> Any:
    """A UTF-8 YAML file whose mappings remember their line, so errors can point at it. Any problem
    reading it (missing, not UTF-8, not YAML) raises ``CorpusError`` at file:line, or with a
    collecting ``problems`` is reported there and gives None."""
    text = read_text(path, problems)
    return None if text is None else parse_yaml(text, Path(path), problems)


def reported(problems: Problems | None, fn, *args, **kw):
    """``fn(*args, **kw)``; with a collecting ``problems`` a ``WorkbenchError`` it raises (one bad file)
    becomes one problem and None, so the files after it are still read."""
    try:
        return fn(*args, **kw)
    except WorkbenchError as exc:
        if problems is None or problems.strict:
            raise
        where = exc.where or "?"
        path, _, line = where.rpartition(":")
        if not line.isdigit():
            path, line = where, ""
        problems.items.append(Problem(path, int(line) if line else None, exc.what, exc.fix or ""))
        return None


def mapping(read, path, fix: str) -> dict:
    """``read(path)`` (e.g. :func:`read_yaml`), which must give a mapping; an empty file gives {}."""
    data = read(path)
    if data is not None and not isinstance(data, dict):
        raise CorpusError(f"{Path(path).name} must be a mapping (key: value lines), not a {type(data).__name__}",
                          where=f"{path}:1", fix=fix)
    return data or {}


def front_matter_line(front: str, key: str) -> int:
    """The file line of ``key:`` in a card's front matter (which starts on line 2); 1 when absent."""
    return next((i for i, ln in enumerate(front.splitlines(), 2) if ln.startswith(f"{key}:")), 1)


def iter_csv(path: str | Path, problems: Problems | None = None, *, required: Iterable[str] = (),
             fix: str = "") -> Iterator[tuple[int, dict[str, str]]]:
    """(line, row) for each data row of a UTF-8 CSV with a header; ``row`` maps the header's names
    (stripped) to the cells, and ``line`` is where the row starts. Reported at file:line: bad
    encoding, an unclosed quote, a row with fewer or more cells than the header, and a ``required``
    column (compared case-insensitively) that the header lacks. A broken file stops at its first
    structural problem; a short or long row is skipped when ``problems`` collects."""
    import csv
    import io

    path, required = Path(path), tuple(required)
    problems = problems if problems is not None else Problems()
    text = read_text(path, problems)
    if text is None:
        return
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    header: list[str] | None = None
    while True:
        start = reader.line_num + 1
        try:
            cells = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            unclosed = "end of data" in str(exc)
            problems.add(path, start, f"a quoted cell that starts on line {start} is never closed" if unclosed
                         else f"malformed CSV on line {start}: {exc}",
                         'close the quote; a quote inside a quoted cell is written ""')
            return
        if not cells or not any(c.strip() for c in cells):
            continue
        if header is None:
            header = [c.strip() for c in cells]
            have = {h.lower() for h in header}
            missing = [c for c in required if c.lower() not in have]
            if missing:
                problems.add(path, start, f"the header (line {start}) lacks the column(s) {', '.join(missing)} "
                             f"(it has {', '.join(header)})", fix or f"name the columns {', '.join(required)}")
                return
            continue
        if len(cells) != len(header):
            what = "fewer" if len(cells) < len(header) else "more"
            problems.add(path, start, f"the row on line {start} has {len(cells)} cell(s), {what} than the header's "
                         f"{len(header)} ({', '.join(header)})",
                         'give every row one cell per column; quote a cell that holds a comma, e.g. "calm, then tense"')
            continue
        yield start, dict(zip(header, cells, strict=True))
    if header is None:
        problems.add(path, 1, "the CSV file is empty (no header row)", fix or "start with a header row naming the "
                     "columns" + (f" {', '.join(required)}" if required else ""))


def line_of(obj) -> int | None:
    """The line a mapping read by :func:`read_yaml` started on; None for anything else."""
    return getattr(obj, "line", None)


def corpus_files(path: str | Path, pattern: str) -> list[Path]:
    """``path`` itself, or the files in that folder matching ``pattern``."""
    path = Path(path)
    if path.is_dir():
        return sorted(path.glob(pattern))
    if path.is_file():
        return [path]
    raise CorpusError(f"{path} does not exist.", where=str(path), fix="check the path")


def require(obj: dict, keys: Iterable[str], path, line, problems: Problems) -> bool:
    """Report the keys that are missing or empty; True when none is (False too when ``obj`` is no mapping)."""
    if not isinstance(obj, dict):
        problems.add(path, line, f"expected a mapping with {', '.join(keys)}, found {type(obj).__name__} "
                     f"{obj!r:.40}", "write it as key: value lines (YAML) or a JSON object")
        return False
    missing = [k for k in keys if obj.get(k) in (None, "", [])]
    if missing:
        problems.add(path, line, f"missing field(s): {', '.join(missing)}", "add them to this record")
    return not missing


def one_of(value, allowed, name, path, line, problems: Problems) -> bool:
    """An enumerated field takes only its values; the error lists them."""
    if not isinstance(value, str) or value not in allowed:
        problems.add(path, line, f"unknown {name} {value!r}", f"use one of: {', '.join(allowed)}")
        return False
    return True


def whole_number(value, name, path, line, problems: Problems, default: int) -> int:
    """An integer field (absent = ``default``); "3" or 3.5 is reported, not converted."""
    if value is None:
        return default
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    problems.add(path, line, f"{name} must be a whole number, not {value!r}", f"write {name}: {default}")
    return default


def boolean(obj: dict, key: str, default: bool, path, line, problems: Problems) -> bool:
    """A true/false field: JSON/YAML booleans only, so "no" or 0 is never read as a truth value."""
    value = obj.get(key, default)
    if isinstance(value, bool):
        return value
    problems.add(path, line, f"{key} must be true or false, not {value!r}",
                 f"write {key}: true or {key}: false (a JSON/YAML boolean, without quotes)")
    return default


def str_list(obj: dict, key: str, path, line, problems: Problems) -> list[str]:
    """A list-of-strings field (absent = empty); a bare string is refused rather than split into letters."""
    value = obj.get(key)
    if value is None:
        return []
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return list(value)
    problems.add(path, line, f"{key} must be a list of strings, not {value!r:.60}",
                 f'write {key}: ["first", "second"]')
    return []


def unique_ids(records, path_of, problems: Problems, kind: str) -> None:
    """Report every record whose ``id`` repeats an earlier one, naming where the first was."""
    seen: dict[str, str] = {}
    for r, where in zip(records, path_of, strict=True):
        if r.id in seen:
            problems.add(where[0], where[1], f"duplicate {kind} id {r.id!r} (first at {seen[r.id]})",
                         "give every record its own id")
        else:
            seen[r.id] = f"{where[0]}:{where[1]}"


SHAREGPT_ROLES = {"human": "user", "user": "user", "gpt": "assistant", "assistant": "assistant",
                  "system": "system", "chatgpt": "assistant", "bing": "assistant"}


def chat_messages(obj: dict, path, line, problems: Problems) -> list[dict] | None:
    """A training dialogue's messages from our chat format or ShareGPT's; None (reported) when unusable."""
    if "messages" in obj:
        msgs = obj["messages"]
    elif "conversations" in obj:  # ShareGPT: {"from": "human"|"gpt"|"system", "value": …}
        msgs = []
        for turn in obj["conversations"] if isinstance(obj["conversations"], list) else []:
            role = SHAREGPT_ROLES.get(str(turn.get("from", "")).lower()) if isinstance(turn, dict) else None
            if role is None:
                problems.add(path, line, f"unknown ShareGPT speaker {turn!r:.60}",
                             "use from: human, gpt or system")
                return None
            msgs.append({"role": role, "content": turn.get("value", "")})
    else:
        problems.add(path, line, "no 'messages' (chat format) or 'conversations' (ShareGPT) field",
                     'add "messages": [{"role": "user", …}, {"role": "assistant", …}]')
        return None
    if not isinstance(msgs, list) or not msgs:
        problems.add(path, line, "messages must be a non-empty list", "add at least a user and an assistant turn")
        return None
    turns = [m for m in msgs if isinstance(m, dict) and m.get("role") != "system"]
    for i, m in enumerate(msgs):
        if not isinstance(m, dict) or m.get("role") not in ("system", "user", "assistant") or not isinstance(
                m.get("content"), str) or not m["content"].strip():
            problems.add(path, line, f"message {i} needs a role (system/user/assistant) and non-empty content",
                         "fix that message")
            return None
    if not turns or turns[-1]["role"] != "assistant" or turns[0]["role"] != "user":
        problems.add(path, line, "a training dialogue must start with a user turn and end with an assistant turn",
                     "reorder or complete the turns")
        return None
    if any(a["role"] == b["role"] for a, b in zip(turns, turns[1:], strict=False)):
        problems.add(path, line, "user and assistant turns must alternate", "merge or split the repeated turn")
        return None
    return [{"role": m["role"], "content": m["content"]} for m in msgs]
