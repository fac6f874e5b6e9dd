"""Training data: dialogues become token sequences whose labels keep only the assistant's words,
grouped into batches of similar length so that padding wastes little."""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

from workbench import paths
from workbench.errors import WorkbenchError

__all__ = ["IGNORE", "SYSTEMS", "BatchStream", "Example", "collate", "data_files", "encode_dialogue", "length_batches",
           "load_examples", "with_system"]

IGNORE = -100
SYSTEMS = {  # TrainConfig.system: the system message each training dialogue gets
    "agent": "the agent's own draft prompt: persona, the numbered facts retrieved for its first message, the plan",
    "persona": "the co-therapist persona prompt alone",
    "none": "none (the model's chat template adds its default)",
}


@dataclass
class Example:
    """One tokenised dialogue; ``labels`` is IGNORE wherever the model should not learn to speak."""

    id: str
    input_ids: list[int]
    labels: list[int]

    @property
    def n_loss(self) -> int:
        return sum(1 for t in self.labels if t != IGNORE)


def encode_dialogue(tokenizer, messages: list[dict], max_length: int, id: str = "") -> Example:
    """Chat-template a dialogue; labels keep only assistant content and its end-of-turn token.

    Each message's tokens are found by rendering the growing prefix, so the mask follows the
    model's own template (headers like ``<|im_start|>assistant\\n`` never carry loss).
    """
    ids: list[int] = []
    labels: list[int] = []
    end = tokenizer.convert_tokens_to_ids(tokenizer.eos_token) if tokenizer.eos_token else None
    for k, m in enumerate(messages):
        if m["role"] == "assistant":
            head = list(tokenizer.apply_chat_template(messages[:k], add_generation_prompt=True, tokenize=True))
        else:
            head = None
        full = list(tokenizer.apply_chat_template(messages[:k + 1], tokenize=True))
        if full[:len(ids)] != ids or (head is not None and full[:len(head)] != head):
            raise WorkbenchError(
                f"The chat template does not render dialogue {id or '?'} as growing prefixes, so the "
                "assistant turns cannot be located token by token.",
                where=f"message {k}",
                fix="use a model whose chat template appends each turn without rewriting earlier ones",
            )
        start = len(head) if head is not None else len(full)
        new_labels = [IGNORE] * (start - len(ids))
        body = full[start:]
        if head is not None:
            stop = body.index(end) + 1 if end in body else len(body)
            new_labels += body[:stop] + [IGNORE] * (len(body) - stop)
        ids, labels = full, labels + new_labels
    if len(ids) > max_length:
        ids, labels = ids[:max_length], labels[:max_length]
    return Example(id, ids, labels)


def data_files(data: list[str]) -> list[Path]:
    """The dialogue files named by ``TrainConfig.data``; empty means the shipped dialogues."""
    if not data:
        return sorted((paths.corpora_dir() / "dialogues").glob("*.jsonl"))
    out = []
    for d in data:
        p = Path(d).expanduser()
        if p.is_dir():
            out += sorted(list(p.glob("*.jsonl")) + list(p.glob("*.csv")))
        elif p.is_file():
            out.append(p)
        else:
            raise WorkbenchError(f"Training data {d} does not exist.", where=str(p),
                                 fix="pass a dialogue JSONL/CSV file or a folder of them")
    if not out:
        raise WorkbenchError(f"No dialogue files (*.jsonl, *.csv) in {', '.join(data)}.",
                             fix="point --data at chat JSONL, ShareGPT JSONL or question/answer CSV files")
    return out


def with_system(dialogues, how: str) -> list[list[dict]]:
    """Each dialogue's messages behind the system message ``how`` names (see ``SYSTEMS``); a dialogue that
    brings its own system message keeps it.

    ``agent`` trains under the very prompt the agent's drafts get, built from the dialogue's first user
    message (``agent.draft_prompt``), so the adapter learns to answer from the facts it is shown: a 135M model
    fine-tuned without them has never seen them and ignores them (#17).
    """
    if how == "none":
        return [d.messages for d in dialogues]
    firsts = [next((m["content"] for m in d.messages if m["role"] == "user"), "") for d in dialogues]
    if how == "persona":
        from workbench.corpora import load_prompts

        systems = [load_prompts()["cotherapist"].text] * len(dialogues)
    else:
        systems = _agent_prompts(firsts)
    return [d.messages if d.messages and d.messages[0]["role"] == "system"
            else [{"role": "system", "content": system}] + d.messages
            for d, system in zip(dialogues, systems, strict=True)]


_PROMPTS: dict[tuple, str] = {}


def _agent_prompts(firsts: list[str]) -> list[str]:
    """``agent.draft_prompt`` of each first message, remembered while the index stays as it is: it screens,
    retrieves and ranks facts (about 0.2 s a dialogue), and a notebook previews the data before it trains."""
    from workbench import retrieval
    from workbench.agent import Retriever, draft_prompt

    index = retrieval.ensure_index() / "manifest.json"
    built = (str(index), index.stat().st_mtime_ns)
    retriever = Retriever()
    for first in firsts:
        if (first, built) not in _PROMPTS:
            _PROMPTS[(first, built)] = draft_prompt(first, retriever=retriever)
    return [_PROMPTS[(first, built)] for first in firsts]


def load_examples(tokenizer, config) -> tuple[list[Example], list[Example], list[Path]]:
    """Tokenise every dialogue and split off a seeded held-out set (by dialogue, never by token).

    ``config`` is a ``TrainConfig``; its data, system, max_length, eval_fraction and seed are read.
    """
    from workbench.corpora import load_dialogues
    from workbench.errors import Problems

    files = data_files(config.data)
    dialogues = [d for f in files for d in load_dialogues(f, Problems(strict=True), strict_fields=False)]
    examples = [encode_dialogue(tokenizer, m, config.max_length, d.id)
                for d, m in zip(dialogues, with_system(dialogues, config.system), strict=True)]
    examples = [e for e in examples if e.n_loss]
    if len(examples) < 2:
        raise WorkbenchError(f"Only {len(examples)} usable dialogue(s) in {', '.join(map(str, files))}.",
                             fix="training needs at least two dialogues with an assistant turn")
    order = list(range(len(examples)))
    random.Random(config.seed).shuffle(order)
    n_eval = max(1, round(len(examples) * config.eval_fraction)) if config.eval_fraction > 0 else 0
    held = set(order[:n_eval])
    return ([e for i, e in enumerate(examples) if i not in held],
            [e for i, e in enumerate(examples) if i in held], files)


def length_batches(examples: list[Example], tokens_per_batch: int, seed: int) -> list[list[Example]]:
    """Group dialogues of similar length so padding wastes little; batch order is shuffled by seed."""
    ranked = sorted(examples, key=lambda e: len(e.input_ids))
    batches, cur = [], []
    for e in ranked:
        width = max([len(x.input_ids) for x in cur] + [len(e.input_ids)])
        if cur and width * (len(cur) + 1) > tokens_per_batch:
            batches.append(cur)
            cur = []
        cur.append(e)
    if cur:
        batches.append(cur)
    random.Random(seed).shuffle(batches)
    return batches


class BatchStream:
    """Micro-batch ``index`` of an endless stream of epochs, epoch ``e`` shuffled with ``seed + e``.

    A batch is a pure function of its index, so a resumed run sees exactly the batches an
    uninterrupted one would; only the current epoch's batches are kept.
    """

    def __init__(self, examples: list[Example], tokens_per_batch: int, seed: int):
        self.examples, self.tokens_per_batch, self.seed = examples, tokens_per_batch, seed
        self._epoch, self._batches = 0, length_batches(examples, tokens_per_batch, seed)
        self.per_epoch = len(self._batches)  # the grouping ignores the seed: every epoch has as many

    def __getitem__(self, index: int) -> list[Example]:
        epoch, k = divmod(index, self.per_epoch)
        if epoch != self._epoch:
            self._epoch, self._batches = epoch, length_batches(self.examples, self.tokens_per_batch, self.seed + epoch)
        return self._batches[k]


def collate(batch: list[Example], pad_id: int):
    """Right-pad to the longest in the batch; padding never carries loss."""
    import torch

    width = max(len(e.input_ids) for e in batch)
    ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
    labels = torch.full((len(batch), width), IGNORE, dtype=torch.long)
    mask = torch.zeros((len(batch), width), dtype=torch.long)
    for r, e in enumerate(batch):
        n = len(e.input_ids)
        ids[r, :n], labels[r, :n], mask[r, :n] = torch.tensor(e.input_ids), torch.tensor(e.labels), 1
    return ids, mask, labels
