import json

from workbench.cli import main


def test_info_json(capsys):
    assert main(["info", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["default_model"] in info["models"] and info["torch"].startswith("2.13")


def test_chat_streams_answer(capsys):
    assert main(["chat", "What is behavioural activation?", "--model", "tiny-llama", "--max-new-tokens", "6"]) == 0
    out = capsys.readouterr()
    assert out.out.strip() and "6 new tokens" in out.err


def test_unknown_model_is_a_clear_error(capsys):
    assert main(["chat", "hi", "--model", "nope"]) == 2
    err = capsys.readouterr().err
    assert "Unknown model 'nope'" in err and "Fix:" in err


def test_demo_writes_self_contained_report(tmp_path):
    assert main(["demo", "--model", "tiny-llama", "--out", str(tmp_path)]) == 0
    html = (tmp_path / "report.html").read_text()
    assert "coTherapist Workbench" in html and "plotly" in html and "behavioural activation" in html
    assert "<script src=\"http" not in html  # plotly.js is inlined, so it opens offline
    from workbench.trace import Trace

    traces = Trace.load_all(tmp_path / "traces.jsonl")
    assert len(traces) == 3 and "wb-span" in html and "Timeline" in html
    assert traces[2].span("screen_input").outputs["risk"] and "escalation resources placed first" in html
    assert "3 · Comparison: base vs rag" in html and "workbench finetune --name cotherapist" in html
    assert "4 · Psychometric profile: base vs prompted" in html and "scatterpolar" in html
    assert "MTMM, prompted" in html and "Shift prompted" in html
    assert set(json.loads((tmp_path / "profiles" / "comparison.json").read_text())["configs"]) == {"base", "prompted"}
    assert (tmp_path / "comparison" / "summary.json").is_file()
