"""Small readers and checks shared by the corpus loaders (``corpora``, ``inventories``): YAML whose
mappings remember their line, chat-message parsing (ours and ShareGPT), and field checks that report
to a ``Problems`` at file:line."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from workbench.errors import CorpusError, Problems

__all__ = ["SHAREGPT_ROLES", "chat_messages", "corpus_files", "line_of", "one_of", "read_yaml", "require",
           "unique_ids"]


class _LineDict(dict):
    line: int = 0


def _yaml_loader():
    import yaml

    class LineLoader(yaml.SafeLoader):
        pass

    def construct_mapping(loader, node, deep=False):
        d = _LineDict(loader.construct_mapping(node, deep=deep))
        d.line = node.start_mark.line + 1
        return d

    LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, construct_mapping)
    return LineLoader


def read_yaml(path: str | Path) -> Any:
    """YAML whose mappings remember their line, so errors can point at it."""
    import yaml

    path = Path(path)
    try:
        return yaml.load(path.read_text(encoding="utf-8"), Loader=_yaml_loader())
    except OSError as exc:
        raise CorpusError(f"Cannot read {path}: {exc.strerror}", where=str(path)) from exc
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark else None
        raise CorpusError(f"Invalid YAML: {getattr(exc, 'problem', exc)}",
                          where=f"{path}:{line}" if line else str(path),
                          fix="check indentation and quoting on that line") from exc


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
    """Report the keys that are missing or empty; True when none is."""
    missing = [k for k in keys if obj.get(k) in (None, "", [])]
    if missing:
        problems.add(path, line, f"missing field(s): {', '.join(missing)}", "add them to this record")
    return not missing


def one_of(value, allowed, name, path, line, problems: Problems) -> None:
    if value not in allowed:
        problems.add(path, line, f"unknown {name} {value!r}", f"use one of: {', '.join(allowed)}")


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
