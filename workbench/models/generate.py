"""The Generator protocol every backend implements, and its PyTorch implementation.

A lean decode loop of our own (rather than ``model.generate``) so that prefill and decode are
timed separately, text streams piece by piece, stop strings and a cancel flag are honoured, and
the ONNX Runtime backend can mirror it step for step.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from typing import Protocol, runtime_checkable

from workbench.errors import WorkbenchError
from workbench.models.attention import NAME as ATTENTION
from workbench.models.attention import grouped_query_sdpa
from workbench.models.completion import Answer, Answering, Completion

__all__ = ["ROLES", "Completion", "Generator", "TorchGenerator", "check_messages", "repeat_bans"]

ROLES = ("system", "user", "assistant")


@runtime_checkable
class Generator(Protocol):
    name: str
    backend: str

    def chat(self, messages, *, max_new_tokens=256, temperature=0.0, seed=0, stop=None,
             no_repeat_ngram=0) -> Completion: ...

    def chat_many(self, conversations, *, max_new_tokens=256, temperature=0.0, seed=0,
                  stop=None, no_repeat_ngram=0) -> list[Completion]: ...

    def stream(self, messages, *, max_new_tokens=256, temperature=0.0, seed=0, stop=None,
               no_repeat_ngram=0) -> Iterator[str]: ...

    def score_options(self, messages, options: Sequence[str]) -> list[float]: ...

    def score_many(self, conversations, options: Sequence[str]) -> list[list[float]]: ...


def check_messages(messages) -> list[dict]:
    """Validate chat messages up front so the user sees which message is wrong and why."""
    if isinstance(messages, str):
        messages = [{"role": "user", "content": messages}]
    if not isinstance(messages, (list, tuple)) or not messages:
        raise WorkbenchError(
            "No messages to answer.", fix='pass a non-empty list like [{"role": "user", "content": "…"}]'
        )
    out = []
    for i, m in enumerate(messages):
        if not isinstance(m, dict) or m.get("role") not in ROLES or not isinstance(m.get("content"), str):
            raise WorkbenchError(
                f"Message {i} is not a chat message: {m!r:.80}",
                where=f"messages[{i}]",
                fix=f'each message needs "role" (one of {", ".join(ROLES)}) and a string "content"',
            )
        out.append({"role": m["role"], "content": m["content"]})
    if out[-1]["role"] != "user" or not out[-1]["content"].strip():
        raise WorkbenchError(
            "The last message must be a non-empty user message.",
            where=f"messages[{len(out) - 1}]",
            fix="type a question or statement for the model to answer",
        )
    return out


def repeat_bans(tokens: Sequence[int], n: int) -> list[int]:
    """The tokens that would complete an n-gram the answer already holds (none when ``n`` < 2).

    Banning them keeps a small model's greedy decoding out of the loops it falls into (a sentence said five
    times). Only the answer's own tokens count, so a fact in the prompt may still be quoted."""
    if n < 2 or len(tokens) < n:
        return []
    tail = list(tokens[len(tokens) - n + 1:])
    return list(dict.fromkeys(tokens[i + n - 1] for i in range(len(tokens) - n + 1)
                              if list(tokens[i:i + n - 1]) == tail))


class TorchGenerator(Answering):
    """Greedy or sampled decoding with a KV cache on the CPU, through PyTorch eager."""

    backend = "torch"

    def __init__(self, model, tokenizer, name: str):
        self.model, self.tokenizer, self.name = model, tokenizer, name
        grouped_query_sdpa(model)
        self.context_window = int(min(tokenizer.model_max_length, model.config.max_position_embeddings))
        self.stop_ids = {i for i in (tokenizer.eos_token_id, model.config.eos_token_id) if i is not None}
        self.last: Completion | None = None

    # ---- prompt -------------------------------------------------------------------------------
    def encode_chat(self, messages, *, max_new_tokens: int = 0, truncate: str = "error") -> list[int]:
        """Chat-template the messages; apply the context-window policy (error, or drop oldest turns)."""
        messages = check_messages(messages)
        budget = self.context_window - max_new_tokens
        while True:
            ids = list(self.tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=True))
            if len(ids) <= budget:
                return ids
            first = 1 if messages[0]["role"] == "system" else 0
            if truncate != "oldest" or len(messages) - first <= 1:
                raise WorkbenchError(
                    f"The prompt is {len(ids)} tokens; with max_new_tokens={max_new_tokens} it exceeds "
                    f"{self.name}'s context window of {self.context_window} tokens.",
                    fix="shorten the message, lower max_new_tokens, or pass truncate='oldest' to drop the "
                    "oldest turns of a long conversation",
                )
            del messages[first]

    # ---- generation ---------------------------------------------------------------------------
    def _pick(self, logits, temperature: float, rng, bans=()):
        import torch

        if bans:
            logits = logits.clone()
            logits[list(bans)] = float("-inf")
        if temperature <= 0:
            return int(torch.argmax(logits))
        probs = torch.softmax(logits.float() / temperature, dim=-1)
        return int(torch.multinomial(probs, 1, generator=rng))

    def _steps(self, ids: list[int], max_new_tokens: int, temperature: float, seed: int, cancel,
               no_repeat: int = 0):
        """Yield (token_id, prefill_s) lazily; stops at an end-of-turn token. ``no_repeat``: see
        ``repeat_bans``."""
        import torch

        rng, said = torch.Generator().manual_seed(seed), []
        with torch.inference_mode():
            t0 = time.perf_counter()
            out = self.model(input_ids=torch.tensor([ids]), use_cache=True, logits_to_keep=1)
            prefill = time.perf_counter() - t0
            for _ in range(max_new_tokens):
                if cancel is not None and cancel.is_set():
                    return
                tok = self._pick(out.logits[0, -1], temperature, rng, repeat_bans(said, no_repeat))
                if tok in self.stop_ids:
                    return
                said.append(tok)
                yield tok, prefill
                out = self.model(
                    input_ids=torch.tensor([[tok]]), past_key_values=out.past_key_values, use_cache=True
                )

    def _steps_many(self, take, max_new_tokens: int, temperature: float, seed: int, cancel, finished: set,
                    batch_size: int, no_repeat: int = 0):
        """Decode rows that come and go; yield ({ticket: token, or None at an end-of-turn token}, {ticket:
        prefill_s of the rows that joined before this step}) per step.

        Before every step ``take(free)`` hands over up to ``free`` new (ticket, token ids) rows. Each is
        prefilled alone (the numbers ``_steps`` gets) and joins the batch's cache, left-padded to the longest
        row with a mask over the padding and its own positions. A row leaves after ``max_new_tokens`` tokens,
        an end-of-turn token, or when the caller adds its ticket to ``finished``. Ends when no row is left
        and ``take`` gives none.
        """
        import torch

        pad = torch.nn.functional.pad
        cache = mask = logits = None
        tickets, counts, rngs, pos, said = [], [], [], [], []
        with torch.inference_mode():
            while True:
                if cancel is not None and cancel.is_set():
                    return
                joined = {}
                for ticket, ids in take(batch_size - len(tickets)):
                    t0 = time.perf_counter()
                    out = self.model(input_ids=torch.tensor([ids]), use_cache=True, logits_to_keep=1)
                    width, n = (0 if mask is None else mask.shape[1]), len(ids)
                    if cache is None:
                        cache, mask = out.past_key_values, torch.ones((1, n), dtype=torch.long)
                    else:  # left-pad whichever is shorter, then the new row joins the batch
                        for layer, new in zip(cache.layers, out.past_key_values.layers, strict=True):
                            old = (0, 0, max(n - width, 0), 0)
                            layer.keys = torch.cat([pad(layer.keys, old), pad(new.keys, (0, 0, max(width - n, 0), 0))])
                            layer.values = torch.cat([pad(layer.values, old),
                                                      pad(new.values, (0, 0, max(width - n, 0), 0))])
                        row = pad(torch.ones((1, n), dtype=torch.long), (max(width - n, 0), 0))
                        mask = torch.cat([pad(mask, (max(n - width, 0), 0)), row])
                    last = out.logits[:, -1]
                    logits = last if logits is None else torch.cat([logits, last])
                    tickets.append(ticket)
                    counts.append(0)
                    rngs.append(torch.Generator().manual_seed(seed))
                    pos.append(n)
                    said.append([])
                    joined[ticket] = time.perf_counter() - t0
                if not tickets:
                    return
                toks, step = self._row_step(logits, tickets, temperature, rngs, said, no_repeat)
                yield step, joined
                counts = [c + 1 for c in counts]
                keep = [j for j, t in enumerate(tickets) if t not in finished and step[t] is not None
                        and counts[j] < max_new_tokens]
                if not keep:
                    cache = mask = logits = None
                    tickets, counts, rngs, pos, said = [], [], [], [], []
                    continue
                if len(keep) < len(tickets):
                    cache.batch_select_indices(torch.tensor(keep))
                    mask = mask[keep]
                    tickets, counts, rngs, pos, toks, said = ([x[j] for j in keep]
                                                              for x in (tickets, counts, rngs, pos, toks, said))
                mask = torch.cat([mask, torch.ones((len(tickets), 1), dtype=torch.long)], dim=1)
                out = self.model(input_ids=torch.tensor(toks)[:, None], attention_mask=mask,
                                 position_ids=torch.tensor(pos)[:, None], past_key_values=cache, use_cache=True)
                cache, logits, pos = out.past_key_values, out.logits[:, -1], [p + 1 for p in pos]

    def _row_step(self, logits, tickets: list, temperature: float, rngs, said: list, no_repeat: int):
        """Each decoding row's next token, and the step ``_steps_many`` yields: {ticket: token, or None at an
        end-of-turn token}. ``said[j]``, row j's tokens so far, gains the row's new token."""
        toks = [self._pick(logits[j], temperature, rngs[j], repeat_bans(said[j], no_repeat))
                for j in range(len(tickets))]
        for row, tok in zip(said, toks, strict=True):
            row.append(tok)
        return toks, {t: (None if k in self.stop_ids else k) for t, k in zip(tickets, toks, strict=True)}

    def greedy_tokens(self, ids: Sequence[int], k: int) -> list[int]:
        """The first ``k`` greedy token ids after the prompt ``ids`` (fewer at an end-of-turn token):
        what a parity check compares between backends, without decoding text."""
        return [tok for tok, _ in self._steps(list(ids), k, 0.0, 0, None)]

    def logits(self, ids: Sequence[int]):
        """Logits for every position of ``ids`` as a float32 numpy array, for parity checks and perplexity."""
        import torch

        with torch.inference_mode():
            return self.model(input_ids=torch.tensor([list(ids)])).logits[0].float().numpy()

    def _generate(self, messages, max_new_tokens=256, temperature=0.0, seed=0, stop=None, cancel=None,
                  truncate="error", no_repeat_ngram=0):
        ids = self.encode_chat(messages, max_new_tokens=max_new_tokens, truncate=truncate)
        answer = Answer(self.tokenizer, stop)
        prefill = 0.0
        t_start = time.perf_counter()
        for tok, prefill in self._steps(ids, max_new_tokens, temperature, seed, cancel,  # noqa: B007 (read after)
                                        no_repeat_ngram):
            piece = answer.add(tok)
            if piece:
                yield piece
            if answer.finish:
                break
        answer.end(max_new_tokens, cancel)
        self.last = answer.completion(self, len(ids), prefill, time.perf_counter() - t_start)
        return self.last

    def stream(self, messages, *, max_new_tokens=256, temperature=0.0, seed=0, stop=None, cancel=None,
               truncate="error", no_repeat_ngram=0) -> Iterator[str]:
        """Yield text pieces as they are decoded; ``self.last`` holds the Completion afterwards."""
        yield from self._generate(messages, max_new_tokens, temperature, seed, stop, cancel, truncate,
                                  no_repeat_ngram)

    def chat(self, messages, *, max_new_tokens=256, temperature=0.0, seed=0, stop=None, cancel=None,
             truncate="error", no_repeat_ngram=0) -> Completion:
        """One answer. ``no_repeat_ngram`` n ≥ 2 never repeats an n-gram of the answer (``repeat_bans``)."""
        gen = self._generate(messages, max_new_tokens, temperature, seed, stop, cancel, truncate,
                             no_repeat_ngram)
        while True:
            try:
                next(gen)
            except StopIteration as done:
                return done.value

    # ---- scoring ------------------------------------------------------------------------------
    def score_options(self, messages, options: Sequence[str]) -> list[float]:
        """Sum log-probability of each option as the assistant's reply to ``messages``."""
        return self.score_many([messages], options)[0]

    def score_many(self, conversations, options: Sequence[str], *, batch_size: int = 32) -> list[list[float]]:
        """``score_options`` for many prompts that share one option list, e.g. every item of a questionnaire.

        The prompts' longest common token prefix (system prompt, instructions, scale) runs once and its
        KV cache is shared by a batch of rows. Each row is the prompt's distinct tail, left-padded so
        every tail ends in the same column, followed by the options' tokens laid out as a prefix tree
        ("Very accurate" and "Very inaccurate" share "Very"). A 4D attention mask lets each tree token
        see the prefix, its row's tail and its own ancestors only, so one forward pass scores every
        option of every prompt in the batch, and the output layer runs only on the columns read.
        """
        import copy

        import torch

        if not options or any(not isinstance(o, str) or not o for o in options):
            raise WorkbenchError("score_options needs a non-empty list of non-empty strings.",
                                 fix='e.g. options=["1", "2", "3", "4", "5"]')
        prompts = [self.encode_chat(m) for m in conversations]
        opts = [tuple(self.tokenizer.encode(o, add_special_tokens=False)) for o in options]
        # Tree nodes: every proper prefix of an option, in order, so a parent precedes its children.
        nodes = list(dict.fromkeys(o[:k] for o in opts for k in range(1, len(o))))
        col = {node: i for i, node in enumerate(nodes)}
        n = len(nodes)
        pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0
        lcp, base = self._shared_prefix(prompts)
        # On our attention the rows read the prefix's keys and values in place; otherwise each row
        # gets a copy of the prefix cache.
        shared = None
        if base is not None and getattr(self.model.config, "_attn_implementation", "") == ATTENTION:
            shared = [(layer.keys, layer.values) for layer in base.layers]
        # Rows of similar length share a batch (less padding); results go back in the caller's order.
        order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))
        results: list[list[float]] = [[] for _ in prompts]
        with torch.inference_mode():
            for start in range(0, len(order), batch_size):
                rows = order[start:start + batch_size]
                tails = [prompts[i][lcp:] for i in rows]
                b, width = len(tails), max(map(len, tails))
                ids = torch.full((b, width + n), pad, dtype=torch.long)
                pos = torch.zeros((b, width + n), dtype=torch.long)
                mask = torch.zeros((b, 1, width + n, lcp + width + n), dtype=torch.bool)
                mask[:, :, :, :lcp] = True
                for r, t in enumerate(tails):
                    off = width - len(t)  # left padding: every tail ends in column width - 1
                    ids[r, off:width] = torch.tensor(t)
                    pos[r, off:width] = lcp + torch.arange(len(t))
                    mask[r, 0, off:width, lcp + off:lcp + width] = torch.ones(len(t), len(t), dtype=torch.bool).tril()
                    mask[r, 0, :off, lcp:lcp + off] = torch.eye(off, dtype=torch.bool)  # padding sees itself
                    for i, node in enumerate(nodes):
                        ids[r, width + i] = node[-1]
                        pos[r, width + i] = lcp + len(t) + len(node) - 1
                        mask[r, 0, width + i, lcp + off:lcp + width] = True
                        for k in range(1, len(node) + 1):
                            mask[r, 0, width + i, lcp + width + col[node[:k]]] = True
                cache, extra = None, {"shared_prefix": shared} if shared else {}
                if base is not None and not shared:
                    cache = copy.deepcopy(base)
                    cache.batch_repeat_interleave(b)
                logits = self.model(input_ids=ids, attention_mask=mask, position_ids=pos, past_key_values=cache,
                                    use_cache=False, logits_to_keep=torch.arange(width - 1, width + n), **extra).logits
                logp = torch.log_softmax(logits.float(), dim=-1)  # column 0: after the tail; 1 + i: after node i
                for r, i in enumerate(rows):
                    results[i] = ([float(logp[r, 0, o[0]]) + sum(float(logp[r, 1 + col[o[:k]], o[k]])
                                                                   for k in range(1, len(o))) for o in opts])
        return results

    def _shared_prefix(self, prompts: list[list[int]]):
        """(length, KV cache) of the token prefix all prompts share, keeping at least one tail token each.

        The last prefix's cache is remembered and reused as far as it matches: a questionnaire scored
        in chunks and variants repeats the system prompt (and within a variant the instructions and
        scale) in every call, and that prefix is often longer than the calls' tails.
        """
        import copy

        import torch

        lcp, limit = 0, min(map(len, prompts)) - 1
        while lcp < limit and all(p[lcp] == prompts[0][lcp] for p in prompts):
            lcp += 1
        if not lcp:
            return 0, None
        memo_ids, memo = getattr(self, "_prefix_memo", ((), None))
        known = 0
        while known < min(lcp, len(memo_ids)) and memo_ids[known] == prompts[0][known]:
            known += 1
        if known and known == len(memo_ids):
            return known, memo  # used read-only: score_many works on copies
        cache = None
        if known:
            cache = copy.deepcopy(memo)
            cache.crop(known)
            if known == lcp:
                return lcp, cache
        with torch.inference_mode():
            cache = self.model(input_ids=torch.tensor([prompts[0][known:lcp]]), past_key_values=cache,
                               use_cache=True).past_key_values
        self._prefix_memo = (tuple(prompts[0][:lcp]), cache)
        return lcp, cache
