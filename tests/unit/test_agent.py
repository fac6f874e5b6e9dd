"""The agent loop on the tiny model with the real index and safety screen; traces round-trip."""

import json

import pytest

from workbench import retrieval
from workbench.agent import Agent, AgentConfig, critique
from workbench.cli import main
from workbench.corpora import load_safety_config
from workbench.trace import Trace

CLINICIAN_Q = "My client with panic disorder avoids supermarkets. How should I plan exposure?"
RISK_Q = "I have saved up pills and I am going to take them all tonight."


@pytest.fixture(scope="module")
def agent():
    retrieval.build_index()
    return Agent("tiny-llama", config=AgentConfig(max_new_tokens=24, revise=True))


def test_full_loop_emits_every_step(agent):
    t = agent.run(CLINICIAN_Q)
    names = [s.name for s in t.spans]
    assert names[:7] == ["agent", "screen_input", "understand", "plan", "retrieve", "facts", "draft"]
    assert "critique" in names and names[-1] == "screen_output"
    assert t.span("understand").outputs["speaker"] == "clinician"
    cards = t.span("retrieve").outputs["cards"]
    assert len(cards) == len(set(cards)) == 3 and "panic-disorder-cbt" in cards
    draft = t.span("draft")
    assert draft.kind == "llm" and draft.attributes["completion_tokens"] == 24
    assert "[panic-disorder-cbt]" in draft.attributes["messages"][0]["content"]
    assert all(s.end >= s.start and s.parent_id == t.root.span_id for s in t.spans[1:])


def test_risk_disclosure_leads_with_escalation(agent):
    t = agent.run(RISK_Q)
    res = load_safety_config()["resources"]
    emergency = res["locales"][res["default"]]["emergency"]
    first_para = t.answer.split("\n\n")[0]
    assert emergency in first_para and t.span("screen_input").outputs["level"] == "imminent"
    assert "escalation resources placed first" in t.span("screen_output").attributes["decision"]


def test_ablation_switches_steps_off():
    base = Agent("tiny-llama", config=AgentConfig.preset("base"))
    base.config.max_new_tokens = 8
    names = [s.name for s in base.run(CLINICIAN_Q).spans]
    assert names == ["agent", "understand", "plan", "draft"]
    with pytest.raises(Exception, match="Unknown agent configuration"):
        AgentConfig.preset("turbo")


def test_critique_rules():
    f = critique("q", "You have bipolar disorder; take 50 mg.", speaker="client", risk=False, retrieved=["a"])
    dims = [x["dimension"] for x in f]
    assert dims.count("boundaries") == 2 and "empathy" in dims and "exploration" in dims and "grounding" in dims
    good = "That sounds really hard. One option is a thought record [cbt-thought-records]. What feels doable?"
    assert critique("q", good, speaker="client", risk=False, retrieved=["cbt-thought-records"]) == []
    # declining to diagnose or dose is keeping the boundary, not crossing it
    declines = ("That sounds frightening. I can't tell you whether you have PTSD, and dosing is a question for your "
                "prescriber [cbt-thought-records]. What would help you feel ready to ask them?")
    assert critique("q", declines, speaker="client", risk=False, retrieved=["cbt-thought-records"]) == []


def test_trace_round_trip_and_openinference(agent, tmp_path):
    t = agent.run(CLINICIAN_Q)
    path = t.save(tmp_path / "t.jsonl")
    back = Trace.load(path)
    assert back == t and back.answer == t.answer
    oi = t.to_openinference()
    assert len(oi) == len(t.spans)
    for span in oi:
        assert {"name", "context", "parent_id", "start_time", "end_time", "status_code", "attributes"} <= set(span)
        assert span["attributes"]["openinference.span.kind"] in {"CHAIN", "LLM", "RETRIEVER", "GUARDRAIL", "EVALUATOR"}
        json.dumps(span)  # serialisable
    llm = next(s for s in oi if s["name"] == "draft")["attributes"]
    assert llm["llm.token_count.completion"] == 24 and llm["llm.input_messages.1.message.role"] == "user"
    ret = next(s for s in oi if s["name"] == "retrieve")["attributes"]
    assert "retrieval.documents.0.document.id" in ret
    df = t.to_dataframe()
    assert list(df["name"]) == [s.name for s in t.spans] and (df["duration_ms"] >= 0).all()


def test_broken_trace_file_names_the_line(tmp_path):
    f = tmp_path / "bad.jsonl"
    f.write_text('{"trace_id": "x"}\n')
    with pytest.raises(Exception, match="bad.jsonl:1"):
        Trace.load(f)


def test_cli_ask_appends_trace(agent, tmp_path, capsys):
    out = tmp_path / "traces.jsonl"
    assert main(["ask", RISK_Q, "--model", "tiny-llama", "--trace", str(out), "--locale", "UK"]) == 0
    assert main(["ask", CLINICIAN_Q, "--model", "tiny-llama", "--config", "rag", "--trace", str(out)]) == 0
    assert "999" in capsys.readouterr().out.split("\n\n")[0]
    assert len(Trace.load_all(out)) == 2


def test_revision_is_kept_only_when_it_checks_better(agent):
    t = agent.run("I feel so alone since the breakup.")
    revise = t.span("revise")
    assert revise is not None and revise.attributes["decision"] in ("revision kept", "revision rejected, draft kept")
    final_draft = t.span("screen_output").inputs["text"]
    if revise.attributes["decision"].startswith("revision rejected"):  # the chosen draft stays
        drafts = [s.outputs["text"] for s in t.spans if s.name == "draft"]
        assert final_draft == drafts[t.span("choose").outputs["chosen"]]
    else:
        assert final_draft == revise.outputs["text"]
    assert "fix these points" not in t.answer.lower()


def test_imminent_risk_skips_drafting_and_states_the_locale(agent):
    from workbench.safety import IMMINENT_FOLLOW_UP

    t = agent.run(RISK_Q)
    assert not [s for s in t.spans if s.kind == "llm"] and t.span("retrieve") is None
    assert t.span("plan").attributes["decision"] == "imminent risk to the speaker: no model call"
    assert t.answer.endswith(IMMINENT_FOLLOW_UP) and t.root.attributes["locale"] == "US"
    uk = Agent("tiny-llama", config=AgentConfig(locale="en-GB")).run(RISK_Q)
    assert uk.span("screen_input").attributes["locale"] == "UK" and "999" in uk.answer.split("\n\n")[0]


def test_risk_retrieves_safety_cards_first(agent):
    t = agent.run("I've been thinking about ending my life lately, but I have no plan. How do I get through the "
                  "evenings?")
    assert t.span("screen_input").outputs["risk"] and t.span("draft") is not None  # not imminent: drafted
    cards = t.span("retrieve").outputs["cards"]
    assert cards[0] in {"collaborative-safety-planning", "risk-assessment-cssrs"}, cards


def test_facts_are_the_retrieved_cards_points_numbered(agent):
    from workbench.corpora import load_cards

    t = agent.run(CLINICIAN_Q)
    facts = t.span("facts").outputs["facts"]
    points = {c.id: c.points for c in load_cards()}
    retrieved = t.span("retrieve").outputs["cards"]
    assert 1 <= len(facts) <= 5 and [f["n"] for f in facts] == list(range(1, len(facts) + 1))
    assert all(f["card"] in retrieved and f["text"] in points[f["card"]] for f in facts)
    assert [f["score"] for f in facts] == sorted((f["score"] for f in facts), reverse=True)
    system = t.span("draft").attributes["messages"][0]["content"]
    assert f"1. {facts[0]['text']} [{facts[0]['card']}]" in system


def test_candidates_are_judged_and_the_best_is_kept():
    from workbench.drafts import choose as drafts_choose

    agent = Agent("tiny-llama", config=AgentConfig(candidates=2, max_new_tokens=16, revise=False))
    t = agent.run("I feel so alone since the breakup.")
    drafts = [s.outputs["text"] for s in t.spans if s.name == "draft"]
    assert len(drafts) == 2 and [s.attributes["temperature"] for s in t.spans if s.name == "draft"] == [0.0, 0.8]
    choose = t.span("choose")
    rows, best = choose.outputs["ratings"], choose.outputs["chosen"]
    assert best == drafts_choose(rows) and choose.attributes["decision"].startswith(f"draft {best + 1} of 2: ")
    assert t.span("screen_output").inputs["text"] == drafts[best]


def test_drafts_decode_without_repeating_themselves_when_asked():
    """``no_repeat_ngram`` reaches the model: each draft is what ``chat`` gives with that setting."""
    agent = Agent("tiny-llama", config=AgentConfig(candidates=1, max_new_tokens=96, no_repeat_ngram=3))
    draft = agent.run("How do I start a thought record with a client?").span("draft")
    assert draft.attributes["no_repeat_ngram"] == 3
    messages = draft.attributes["messages"]
    want = agent.gen.chat(messages, max_new_tokens=96, truncate="oldest", no_repeat_ngram=3).text
    assert draft.outputs["text"] == want != agent.gen.chat(messages, max_new_tokens=96, truncate="oldest").text


def test_progress_and_stop():
    import threading

    stop, seen = threading.Event(), []

    def progress(done, total, step):
        seen.append((done, total, step))
        if step.startswith("writing draft"):
            stop.set()

    agent = Agent("tiny-llama", config=AgentConfig(candidates=2, max_new_tokens=8))
    assert agent.run(CLINICIAN_Q, progress=progress, cancel=stop) is None
    assert [s for _, _, s in seen] == ["screening the message", "retrieving cards", "writing draft 1 of 2"]
    seen.clear()
    t = agent.run(CLINICIAN_Q, progress=lambda d, n, s: seen.append((d, n, s)))
    assert t.answer and seen[-1][0] == seen[-1][1] and [d for d, _, _ in seen] == sorted(d for d, _, _ in seen)
