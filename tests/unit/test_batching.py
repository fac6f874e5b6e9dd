"""Concurrent chat calls decoded together (models.batching.Batcher), on the tiny model: each caller gets what
chat gives alone, requests with the same settings share a batch, and one bad request fails only its caller."""

import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from workbench.errors import WorkbenchError
from workbench.models.batching import Batcher

ASKS = ["How do I start a thought record?", "hi", "What is behavioural activation?", "Name one grounding skill.",
        "How can I help a client who cancels often?", "What is a safety plan?"]


def _msgs(q):
    return [{"role": "user", "content": q}]


def test_threads_get_their_own_answers_decoded_together(tiny):
    alone = {q: tiny.chat(_msgs(q), max_new_tokens=12).text for q in ASKS}
    sampled = tiny.chat(_msgs(ASKS[0]), max_new_tokens=12, temperature=1.0, seed=3).text
    batcher = Batcher(tiny, batch_size=4, wait_s=0.1)
    with ThreadPoolExecutor(len(ASKS) + 1) as pool:
        got = pool.map(lambda q: batcher.chat(_msgs(q), max_new_tokens=12).text, ASKS)
        odd = pool.submit(batcher.chat, _msgs(ASKS[0]), max_new_tokens=12, temperature=1.0, seed=3)
        assert dict(zip(ASKS, got, strict=True)) == alone
        assert odd.result().text == sampled  # other settings: a batch of its own, same answer
    deadline = time.monotonic() + 30  # a serve() call counts its requests after handing over the last answer
    while sum(batcher.batches) < len(ASKS) + 1 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert sum(batcher.batches) == len(ASKS) + 1 and max(batcher.batches) > 1  # requests per serve() call
    assert batcher.name == tiny.name and batcher.backend == "torch"  # the rest is the generator's


def test_a_bad_request_fails_only_its_caller(tiny):
    batcher = Batcher(tiny, batch_size=8, wait_s=0.1)
    too_long = "word " * 9000  # past the context window
    with ThreadPoolExecutor(3) as pool:
        good = [pool.submit(batcher.chat, _msgs(q), max_new_tokens=6) for q in ASKS[:2]]
        bad = pool.submit(batcher.chat, _msgs(too_long), max_new_tokens=6)
        assert [f.result().text for f in good] == [tiny.chat(_msgs(q), max_new_tokens=6).text for q in ASKS[:2]]
        with pytest.raises(WorkbenchError, match="context window"):
            bad.result()


def test_a_long_stream_of_requests_gets_whole_answers(tiny):
    """Requests that join one serve() as rows free up each get their own ticket: the Batcher once named them by
    id(future), a finished future's id came back for a new one, and that row ended after its first token."""
    asks = [f"{q} ({i})" for i in range(6) for q in ASKS]
    alone = {q: tiny.chat(_msgs(q), max_new_tokens=8) for q in asks}
    batcher = Batcher(tiny, batch_size=2, wait_s=0.05)
    with ThreadPoolExecutor(3) as pool:  # each thread asks again once answered, as an agent does
        got = dict(zip(asks, pool.map(lambda q: batcher.chat(_msgs(q), max_new_tokens=8), asks), strict=True))
    assert len(batcher.batches) < len(asks)  # requests met: several per serve() call
    for q in asks:
        assert (got[q].text, got[q].completion_tokens) == (alone[q].text, alone[q].completion_tokens), q


def test_serve_refuses_a_ticket_used_twice(tiny):
    ids = tiny.encode_chat(_msgs("hi"), max_new_tokens=4)
    given, delivered = [], []

    def take(free):
        if len(given) < 2 and (not given or delivered):
            given.append(7)
            return [(7, ids)]
        return []

    with pytest.raises(ValueError, match="ticket 7 was used before"):
        tiny.serve(take, lambda t, c: delivered.append(t), max_new_tokens=4, batch_size=2)
