"""Batched decoding on the real default model: every row of ``chat_many`` is token for token what ``chat``
gives alone, on PyTorch and on the default ONNX variant, with rows of different lengths finishing apart."""

import pytest

pytestmark = pytest.mark.integration
ASKS = ["My client with panic disorder avoids supermarkets. How could we plan exposure together?",
        "What is a thought record?",
        "I feel numb since my father died and nothing seems to help.",
        "In one sentence, what is motivational interviewing?",
        "Give a trainee three questions for a first session with a withdrawn teenager."]
CONVERSATIONS = [[{"role": "system", "content": "You are a careful clinical colleague."},
                  {"role": "user", "content": q}] for q in ASKS]


@pytest.mark.parametrize("backend", ["torch", "onnx"])
def test_rows_equal_alone(backend):
    from workbench.models import get_generator

    gen = get_generator("smollm2-135m-instruct", backend)
    alone = [gen.chat(c, max_new_tokens=48) for c in CONVERSATIONS]
    many = gen.chat_many(CONVERSATIONS, max_new_tokens=48)
    assert [m.text for m in many] == [a.text for a in alone]
    assert [m.finish_reason for m in many] == [a.finish_reason for a in alone]
    assert len({a.completion_tokens for a in alone}) > 1  # the rows did not all end on the same step
