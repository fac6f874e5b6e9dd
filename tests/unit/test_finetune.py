"""LoRA fine-tuning on the tiny model: the loss mask, batching, checkpoints, resume after kill -9, cancel, merge."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from workbench import finetune as ft
from workbench.errors import WorkbenchError

DIALOGUES = [
    [{"role": "user", "content": f"Question {i}: how do I start a session with a new client who seems tense?"},
     {"role": "assistant", "content": f"Answer {i}: begin by naming the purpose and inviting their goals."},
     {"role": "user", "content": "And if they stay quiet?"},
     {"role": "assistant", "content": "Allow the silence, then offer a gentle open question."}]
    for i in range(8)
] + [[{"role": "system", "content": "You support clinicians."},
      {"role": "user", "content": "Short one."}, {"role": "assistant", "content": "Yes."}]]


@pytest.fixture()
def data(tmp_path, monkeypatch):
    monkeypatch.setenv("WORKBENCH_EXPORTS", str(tmp_path / "exports"))
    f = tmp_path / "dialogues.jsonl"
    f.write_text("".join(json.dumps({"id": f"d{i}", "messages": m}) + "\n" for i, m in enumerate(DIALOGUES)))
    return f


def small(data, **kw) -> ft.TrainConfig:
    base = dict(name="t", model="tiny-llama", data=[str(data)], steps=6, lr=5e-3, tokens_per_batch=256,
                save_every=2, eval_every=3, eval_fraction=0.25, dropout=0.0, system="none")
    return ft.TrainConfig(**(base | kw))


@pytest.fixture(scope="module")
def tok():
    from workbench.models import registry

    return registry.build_tiny()[1]


def test_loss_mask_covers_exactly_the_assistant_turns(tok):
    messages = DIALOGUES[0]
    ex = ft.encode_dialogue(tok, messages, 4096)
    assert len(ex.input_ids) == len(ex.labels)
    spans, cur = [], []
    for t, lab in zip(ex.input_ids, ex.labels, strict=True):
        if lab != ft.IGNORE:
            assert lab == t
            cur.append(t)
        elif cur:
            spans.append(cur)
            cur = []
    spans += [cur] if cur else []
    texts = [tok.decode(s) for s in spans]
    assert texts == [messages[1]["content"] + "<|im_end|>", messages[3]["content"] + "<|im_end|>"]
    # the full sequence is exactly what the chat template renders
    assert ex.input_ids == list(tok.apply_chat_template(messages, tokenize=True))
    # nothing from user turns or headers carries loss
    assert ex.n_loss == sum(len(s) for s in spans)


def test_length_batches_respect_the_budget_and_waste_little(data, tok):
    train, held, files = ft.load_examples(tok, small(data))
    assert len(held) == 2 and len(train) == 7 and files == [data]
    assert not {e.id for e in held} & {e.id for e in train}
    batches = ft.length_batches(train, 256, seed=0)
    assert sorted(e.id for b in batches for e in b) == sorted(e.id for e in train)
    for b in batches:
        width = max(len(e.input_ids) for e in b)
        assert width * len(b) <= 256 or len(b) == 1
    ids, mask, labels = ft.collate(batches[0], pad_id=0)
    assert int(mask.sum()) == sum(len(e.input_ids) for e in batches[0])
    assert bool((labels[mask == 0] == ft.IGNORE).all())
    assert ft.length_batches(train, 256, seed=0) == batches  # seeded


def test_fast_loss_equals_the_textbook_loss_and_gradient(tok):
    """loss_on_labels (no mask for right padding, chunked output cross-entropy) against HF's own
    masked forward and F.cross_entropy on full logits: same loss, same LoRA gradients."""
    import torch
    import torch.nn.functional as F
    from peft import get_peft_model

    from workbench.models import registry

    model = get_peft_model(registry.build_tiny()[0], ft.lora_config(small(Path("x"), layers=1), 2))
    examples = [ft.encode_dialogue(tok, d, 512) for d in DIALOGUES[:3] + DIALOGUES[-1:]]
    ids, mask, labels = ft.collate(examples, tok.pad_token_id)
    assert (mask == 0).any()  # the batch really is padded
    trainable = [p for p in model.parameters() if p.requires_grad]
    results = []
    for fast in (True, False):
        if fast:
            loss, n = ft.loss_on_labels(model, ids, mask, labels)
        else:
            logits = model(input_ids=ids, attention_mask=mask).logits[:, :-1]
            keep = labels[:, 1:] != ft.IGNORE
            loss, n = F.cross_entropy(logits[keep].float(), labels[:, 1:][keep], reduction="sum"), int(keep.sum())
        (loss / n).backward()
        results.append((float(loss.detach()), n, [p.grad.clone() for p in trainable]))
        model.zero_grad()
    (fast_loss, fast_n, fast_grads), (ref_loss, ref_n, ref_grads) = results
    assert fast_n == ref_n and abs(fast_loss - ref_loss) < 1e-3 * ref_n
    assert any(g.abs().sum() > 0 for g in ref_grads)
    for a, b in zip(fast_grads, ref_grads, strict=True):
        assert torch.allclose(a, b, atol=1e-5, rtol=1e-4)


def test_train_writes_adapter_with_manifest_and_learns(data):
    r = ft.train(small(data, steps=12, eval_every=6, lr=3e-2))
    assert r.status == "done" and r.step == 12
    m = json.loads((Path(r.adapter_dir) / "manifest.json").read_text())
    assert m["base_model"] == "tiny-llama" and m["steps"] == 12
    assert list(m["data"]) == [str(data)] and len(next(iter(m["data"].values()))) == 64
    assert m["hyperparameters"]["rank"] == 8 and m["train_tok_s"] > 0 and m["eval_loss"] is not None
    assert (Path(r.adapter_dir) / "adapter_model.safetensors").is_file()
    losses = [h["train_loss"] for h in r.history]
    assert losses[-1] < losses[0] - 0.2  # attention adapters alone move a random model slowly, but surely
    assert not ft.run_dir("t").exists()  # checkpoints are cleaned once the adapter is saved


def _adapter_tensors(name):
    from safetensors.torch import load_file

    return load_file(str(ft.adapter_dir(name) / "adapter_model.safetensors"))


def test_resume_after_kill_9_matches_an_uninterrupted_run(data):
    """The CLI is killed after its first checkpoint; resuming ends with the weights of a run never killed."""
    import torch

    cmd = [sys.executable, "-m", "workbench.cli", "finetune", "--name", "t", "--model", "tiny-llama", "--data",
           str(data), "--steps", "6", "--lr", "5e-3", "--tokens-per-batch", "256", "--save-every", "2",
           "--eval-every", "3", "--system", "none"]
    proc = subprocess.Popen(cmd, env=dict(os.environ), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline and not list(ft.run_dir("t").glob("checkpoint-*/done")):
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not ft.adapter_dir("t").exists(), "killed before the end: no adapter yet"
    ckpts = list(ft.run_dir("t").glob("checkpoint-*"))
    assert ckpts and all((c / "done").is_file() for c in ckpts)

    def cli_config(name):  # what the command line above means
        return ft.TrainConfig(name=name, model="tiny-llama", data=[str(data)], steps=6, lr=5e-3, system="none",
                              tokens_per_batch=256, save_every=2, eval_every=3)

    resumed = ft.train(cli_config("t"), resume=True)
    assert resumed.status == "done" and resumed.step == 6
    assert [h["step"] for h in resumed.history] == [1, 2, 3, 4, 5, 6]
    ft.train(cli_config("same"))
    a, b = _adapter_tensors("t"), _adapter_tensors("same")
    assert a.keys() == b.keys()
    assert all(torch.allclose(a[k], b[k], atol=1e-6) for k in a)


def test_resume_with_other_settings_is_refused(data):
    cancel = threading.Event()
    r = ft.train(small(data), progress=lambda s, n, rec: s >= 2 and cancel.set(), cancel=cancel)
    assert r.status == "cancelled" and r.step == 2 and r.adapter_dir is None
    assert ft.run_dir("t").joinpath("checkpoint-000002", "done").is_file()
    with pytest.raises(WorkbenchError, match="other settings"):
        ft.train(small(data, lr=1e-2), resume=True)
    done = ft.train(small(data), resume=True)
    assert done.status == "done" and done.history[0]["step"] == 1 and len(done.history) == 6


def test_half_written_checkpoint_is_ignored(data):
    cancel = threading.Event()
    ft.train(small(data), progress=lambda s, n, rec: s >= 4 and cancel.set(), cancel=cancel)
    bad = ft.run_dir("t") / "checkpoint-000005"
    bad.mkdir()
    (bad / "state.pt").write_bytes(b"truncated")  # no "done" marker: never loaded
    r = ft.train(small(data), resume=True)
    assert r.history[4]["step"] == 5 and r.status == "done"


def test_merge_gives_a_registry_model_equal_to_base_plus_adapter(data):
    import torch

    from workbench.models import registry

    ft.train(small(data, steps=4))
    path = ft.merge("t")
    assert registry.resolve("t").source == str(path)
    merged, tok = registry.load(registry.resolve("t"))
    live, _, _ = ft.load_with_adapter("t")
    base, _ = registry.build_tiny()
    ids = torch.tensor([tok.apply_chat_template(DIALOGUES[0][:1], add_generation_prompt=True)])
    with torch.no_grad():
        a, b, c = merged(ids).logits, live(ids).logits, base(ids).logits
    assert torch.allclose(a, b, atol=1e-5)
    assert not torch.allclose(a, c, atol=1e-3)


def test_errors_name_the_fix(data, tmp_path):
    with pytest.raises(WorkbenchError, match="does not exist"):
        ft.train(ft.TrainConfig(model="tiny-llama", data=[str(tmp_path / "missing.jsonl")]))
    with pytest.raises(WorkbenchError, match="workbench finetune --name nope"):
        ft.merge("nope")
    with pytest.raises(WorkbenchError, match="plain folder name"):
        ft.train(small(data, name="../x"))


def test_agent_system_trains_under_the_agents_own_prompt(tmp_path, monkeypatch, tok):
    """The shipped adapter's recipe: each dialogue behind the very prompt the agent's drafts get for its first
    message (persona, numbered facts, plan), carrying no loss; a dialogue with its own system message keeps it."""
    from workbench.agent import draft_prompt
    from workbench.corpora import Dialogue, load_prompts

    monkeypatch.setenv("WORKBENCH_EXPORTS", str(tmp_path / "exports"))
    q = "My client with panic disorder has started avoiding supermarkets. How should I plan exposure with her?"
    dialogues = [Dialogue("a", [{"role": "user", "content": q}, {"role": "assistant", "content": "Build a ladder."}]),
                 Dialogue("b", DIALOGUES[-1])]
    agent, persona, none = (ft.with_system(dialogues, how) for how in ("agent", "persona", "none"))
    system = agent[0][0]
    assert system["role"] == "system" and system["content"] == draft_prompt(q)
    assert "Facts you can use" in system["content"] and "[panic-disorder-cbt]" in system["content"]
    assert "give concrete next steps" in system["content"]  # the clinician's plan
    assert persona[0][0]["content"] == load_prompts()["cotherapist"].text and none[0] == dialogues[0].messages
    assert agent[1] == persona[1] == none[1] == DIALOGUES[-1]  # its own system message stays
    with_facts, bare = (ft.encode_dialogue(tok, m[0], 4096) for m in (agent, none))
    assert with_facts.n_loss == bare.n_loss and len(with_facts.input_ids) > len(bare.input_ids) + 100
    with pytest.raises(WorkbenchError, match="'agent', 'persona' or 'none'"):
        ft.TrainConfig(system="facts").validate()
