"""One job over the processes of ``accelerate launch`` (or torchrun, or mpirun): which process does which
items, where each one writes, the barrier, and the merge the main process does at the end.

A plain process is the world of one: it imports neither accelerate nor torch.distributed and starts
nothing, so a caller keeps one code path for both. The processes exchange no results over the network:
each appends its records to its own shard file in the output folder (a folder they all share when they
run on several machines), where a killed run leaves them to be merged on resume, and the main process
merges the shards into the one file a single process would have written.
"""

from __future__ import annotations

import os
import re
import warnings
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from workbench import io
from workbench.errors import WorkbenchError

__all__ = ["TIMEOUT", "World", "merge", "rank_label", "world"]

# The others wait at a barrier while the main process trains an adapter or finishes its share: longer
# than torch's 30-minute default. A process that dies ends the launch at once (the launcher stops the rest).
TIMEOUT = timedelta(hours=24)
_SIZE = ("WORLD_SIZE", "PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "MV2_COMM_WORLD_SIZE")  # torchrun/accelerate, MPIs
_RANK = ("RANK", "PMI_RANK", "OMPI_COMM_WORLD_RANK", "MV2_COMM_WORLD_RANK")
_FIX = "delete that line; a resumed run regenerates it"


def _env_int(names: Sequence[str], default: int) -> int:
    for name in names:
        raw = os.environ.get(name, "").strip()
        if raw:
            try:
                return int(raw)
            except ValueError:
                raise WorkbenchError(f"The launcher's {name}={raw!r} is not a whole number.", where=f"${name}",
                                     fix="launch with accelerate launch or torchrun, which set it") from None
    return default


def rank_label() -> str:
    """'rank 1/2: ' inside a launch of several processes, '' otherwise (reads the environment only)."""
    size = _env_int(_SIZE, 1)
    return f"rank {_env_int(_RANK, 0)}/{size}: " if size > 1 else ""


@dataclass
class World:
    """This process's place among those launched together: its rank, how many, and what they share."""

    rank: int = 0
    size: int = 1
    state: Any = None  # accelerate's PartialState when size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def barrier(self) -> None:
        """Wait until every process gets here (nothing to wait for alone)."""
        if self.state is not None:
            self.state.wait_for_everyone()

    def from_main(self, fn: Callable[[], Any]) -> Any:
        """``fn()`` run by the main process only, its result handed to every process (which wait for it),
        so a folder name, a check or a trained adapter is made once and cannot race. When ``fn`` raises,
        the others raise too instead of waiting for an answer that never comes."""
        if self.size == 1:
            return fn()
        import torch.distributed as dist

        box: list = [None]
        if self.is_main:
            try:
                box = [(True, fn())]
            except Exception as exc:
                dist.broadcast_object_list([(False, (str(exc).splitlines() or [repr(exc)])[0])], src=0)
                raise
        dist.broadcast_object_list(box, src=0)
        ok, value = box[0]
        if not ok:
            raise WorkbenchError(f"The main process (rank 0) stopped: {value}", where=f"rank {self.rank}",
                                 fix="see rank 0's error above; fix that and launch again (done work is kept)")
        return value

    def share(self, items: Sequence) -> list:
        """This process's items: every size-th one from its rank on. Every process holds the same list, so
        they agree without talking, and the items of each kind (a slow configuration, a fast one) spread evenly."""
        return list(items[self.rank::self.size])

    def shard(self, out: Path, name: str) -> Path:
        """Where this process appends the records of ``name``: results.jsonl -> results.rank1.jsonl; a single
        process appends to ``name`` itself, as it always did."""
        return out / name if self.size == 1 else out / _shard_name(name, self.rank)


def world() -> World:
    """The processes launched together with this one; a plain process is ``World()`` and starts nothing."""
    size = _env_int(_SIZE, 1)
    if size <= 1:
        return World()
    from accelerate import PartialState

    try:
        with warnings.catch_warnings():  # accelerate's note that it set the threads per process
            warnings.filterwarnings("ignore", message=".*OMP_NUM_THREADS.*")
            state = PartialState(cpu=True, timeout=TIMEOUT)  # gloo: a barrier needs no accelerator
    except (RuntimeError, ValueError, OSError) as exc:
        where = f"{os.environ.get('MASTER_ADDR', '?')}:{os.environ.get('MASTER_PORT', '?')}"
        raise WorkbenchError(f"Could not join the other {size - 1} process(es) of this launch: {exc}", where=where,
                             fix="start every process with the same accelerate launch settings; on several "
                                 "machines pass --main_process_ip/--main_process_port that all can reach") from exc
    if state.num_processes != size:
        raise WorkbenchError(f"The launcher says {size} processes but accelerate joined {state.num_processes}.",
                             where="accelerate launch", fix="launch with --multi_gpu --num_processes N (see README)")
    return World(state.process_index, state.num_processes, state)


def _shard_name(name: str, rank: int) -> str:
    stem, _, ext = name.partition(".")
    return f"{stem}.rank{rank}.{ext}"


def _shards(out: Path, name: str) -> list[tuple[int, Path]]:
    stem, _, ext = name.partition(".")
    pattern = re.compile(rf"{re.escape(stem)}\.rank(\d+)\.{re.escape(ext)}")
    found = [(int(m.group(1)), p) for p in out.glob(f"{stem}.rank*.{ext}") if (m := pattern.fullmatch(p.name))]
    return sorted(found)


def merge(out: Path, name: str, *, key: Callable[[dict], Hashable], order: Callable[[dict], Any]) -> dict[int, int]:
    """Fold every shard of ``out/name`` (this run's and those a killed run left) into ``out/name``, sorted
    by ``order`` (stable: records it does not know keep their place at the end), and remove the shards.
    Returns how many records each rank's shard added; {} when there was none (the file is left as it is).

    A shard record whose ``key`` is in the file already, or in a shard of a lower rank, is dropped: so a
    merge killed between writing the file and removing the shards is simply redone. (Records of one key
    in one shard are all kept: a trace is several spans.)"""
    shards = _shards(out, name)
    if not shards:
        return {}
    target = out / name
    records = io.read_jsonl(target, missing_ok=True, fix=_FIX)
    seen = {key(r) for r in records}
    added: dict[int, int] = {}
    for rank, path in shards:
        new = [r for r in io.read_jsonl(path, fix=_FIX) if key(r) not in seen]
        seen |= {key(r) for r in new}
        records += new
        added[rank] = len(new)
    records.sort(key=order)
    io.write_jsonl(target, records)
    for _, path in shards:
        path.unlink(missing_ok=True)
    return added
