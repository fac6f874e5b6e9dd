"""Traces for Phoenix: the OpenInference export follows the conventions' names and the shape Phoenix's reader
takes (ISO times, status, events, token totals, output messages); ``workbench trace export`` writes it."""

import json
from datetime import datetime

import pytest

from workbench import retrieval
from workbench.agent import Agent, AgentConfig
from workbench.cli import main
from workbench.trace import Trace, Tracer, export_rows

QUERY = "My client with panic disorder avoids supermarkets. How should I plan exposure?"
PHOENIX_KEYS = {"name", "context", "span_kind", "parent_id", "start_time", "end_time", "status_code",
                "status_message", "attributes", "events", "conversation"}  # the set json_to_span requires


@pytest.fixture(scope="module")
def trace():
    retrieval.build_index()
    return Agent("tiny-llama", config=AgentConfig(max_new_tokens=16)).run(QUERY)


@pytest.fixture(scope="module")
def failed():
    """A trace whose llm step raised: both it and the root end in error."""
    tracer = Tracer()
    with pytest.raises(RuntimeError), tracer.span("agent", "chain", {"query": "q"}), \
            tracer.span("draft", "llm", {"messages": [{"role": "user", "content": "q"}]}):
        raise RuntimeError("the model stopped: out of memory")
    return tracer.trace


@pytest.fixture
def trace_file(trace, failed, tmp_path):
    path = tmp_path / "traces.jsonl"
    trace.save(path)
    failed.save(path, append=True)
    return path


def test_attribute_names_follow_the_openinference_conventions(trace, failed):
    sc = pytest.importorskip("openinference.semconv.trace",
                             reason="openinference-semantic-conventions is missing: pip install -e '.[dev]'")

    def names(cls):
        return {v for k, v in vars(cls).items() if k.isupper() and isinstance(v, str)}

    span_names = names(sc.SpanAttributes)
    nested = {"llm.input_messages": names(sc.MessageAttributes), "llm.output_messages": names(sc.MessageAttributes),
              "retrieval.documents": names(sc.DocumentAttributes)}
    kinds = {k.value for k in sc.OpenInferenceSpanKindValues}
    seen = set()
    for span in trace.to_openinference() + failed.to_openinference():
        assert span["span_kind"] in kinds and span["attributes"]["openinference.span.kind"] == span["span_kind"]
        for key in span["attributes"]:
            head, _, tail = key.partition(".")
            parts = key.split(".")
            index = next((i for i, p in enumerate(parts) if p.isdigit()), None)
            if index is None:
                assert key in span_names, f"{key} is not an OpenInference span attribute"
            else:
                prefix, suffix = ".".join(parts[:index]), ".".join(parts[index + 1:])
                assert suffix in nested.get(prefix, ()), f"{key}: {suffix} is not an attribute of {prefix}"
            seen.add(key if index is None else f"{prefix}.*.{suffix}")
    assert {"llm.token_count.total", "llm.output_messages.*.message.content", "retrieval.documents.*.document.id",
            "input.value", "output.value", "metadata"} <= seen


def test_export_has_the_shape_phoenix_reads(trace):
    oi, iso = trace.to_openinference(), trace.to_openinference(times="iso")
    assert [s["name"] for s in oi] == [s.name for s in trace.spans]
    for span, as_iso, s in zip(oi, iso, trace.spans, strict=True):
        assert set(span) == PHOENIX_KEYS and json.loads(json.dumps(span)) == span
        assert (span["start_time"], span["end_time"]) == (s.start, s.end) and 1e9 < s.start <= s.end < 1e10  # s, not ns
        start, end = datetime.fromisoformat(as_iso["start_time"]), datetime.fromisoformat(as_iso["end_time"])
        assert start.utcoffset().total_seconds() == 0 and abs(start.timestamp() - s.start) < 1e-5 and end >= start
        assert {**as_iso, "start_time": s.start, "end_time": s.end} == span
        assert span["status_code"] == "OK" and span["status_message"] == "" and span["events"] == []
        assert span["parent_id"] == s.parent_id and span["context"]["span_id"] == s.span_id
    with pytest.raises(Exception, match="unknown span time format"):
        trace.to_openinference(times="ns")
    root = oi[0]["attributes"]
    assert root["input.value"] == QUERY and root["input.mime_type"] == "text/plain"
    assert root["output.value"] == trace.answer and json.loads(root["metadata"])["config"]["k"] == 3
    draft = next(s for s in oi if s["name"] == "draft")["attributes"]
    d = trace.span("draft").attributes
    assert draft["llm.token_count.total"] == d["prompt_tokens"] + d["completion_tokens"] == (
        draft["llm.token_count.prompt"] + draft["llm.token_count.completion"])
    assert draft["llm.output_messages.0.message.role"] == "assistant"
    assert draft["llm.output_messages.0.message.content"] == trace.span("draft").outputs["text"]
    assert json.loads(draft["llm.invocation_parameters"]) == {"temperature": 0.0, "seed": 0}
    assert json.loads(draft["metadata"])["backend"] == "torch"
    facts = next(s for s in oi if s["name"] == "facts")["attributes"]
    assert facts["retrieval.documents.0.document.content"] and "n" in json.loads(facts["retrieval.documents.0."
                                                                                        "document.metadata"])
    guard = next(s for s in oi if s["name"] == "screen_output")["attributes"]
    assert json.loads(guard["metadata"])["decision"] == trace.span("screen_output").attributes["decision"]


def test_a_failed_step_carries_its_status_and_exception_event(failed):
    root, draft = failed.to_openinference()  # event times are ISO 8601 in either time format: Phoenix parses them so
    for span in (root, draft):
        assert span["status_code"] == "ERROR" and span["status_message"] == "RuntimeError: the model stopped: out " \
                                                                           "of memory"
        (event,) = span["events"]
        assert event["name"] == "exception" and datetime.fromisoformat(event["timestamp"]).timestamp() >= span[
            "start_time"]
        assert event["attributes"] == {"exception.type": "RuntimeError",
                                       "exception.message": "the model stopped: out of memory"}
    assert draft["attributes"]["llm.token_count.total"] == 0 and "llm.output_messages.0.message.role" not in draft[
        "attributes"]


def test_cli_exports_both_formats(trace, failed, trace_file, tmp_path, capsys):
    out = tmp_path / "phoenix.jsonl"
    assert main(["trace", "export", str(trace_file), "--format", "openinference", "--out", str(out)]) == 0
    assert f"{len(trace.spans) + 2} spans of 2 trace(s)" in capsys.readouterr().err
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert rows == export_rows([trace, failed])
    assert main(["trace", "export", str(trace_file), "--trace-id", failed.trace_id[:8]]) == 0  # default: OI to stdout
    assert [json.loads(line) for line in capsys.readouterr().out.splitlines()] == failed.to_openinference()
    assert main(["trace", "export", str(trace_file), "--format", "jsonl", "--out", str(tmp_path / "own.jsonl")]) == 0
    assert Trace.load_all(tmp_path / "own.jsonl") == [trace, failed]


def test_cli_export_errors_say_what_and_how(trace_file, tmp_path, capsys):
    assert main(["trace", "export", str(tmp_path / "none.jsonl")]) == 2
    assert "No trace file at" in (err := capsys.readouterr().err) and "workbench ask" in err
    (tmp_path / "empty.jsonl").write_text("\n")
    assert main(["trace", "export", str(tmp_path / "empty.jsonl")]) == 2
    assert "holds no spans" in capsys.readouterr().err
    assert main(["trace", "export", str(trace_file), "--trace-id", "zz"]) == 2
    assert "0 traces" in (err := capsys.readouterr().err) and "give more of one id" in err
    oi = tmp_path / "phoenix.jsonl"  # an export fed back in is not a trace file
    main(["trace", "export", str(trace_file), "--out", str(oi)])
    capsys.readouterr()
    assert main(["trace", "export", str(oi)]) == 2
    assert "phoenix.jsonl:1" in (err := capsys.readouterr().err) and "already an OpenInference export" in err
    (bad := tmp_path / "bad.jsonl").write_text('{"trace_id": "x"}\n')
    assert main(["trace", "export", str(bad)]) == 2 and "bad.jsonl:1" in capsys.readouterr().err
    assert main(["trace", "export", str(trace_file), "--format", "otlp"]) == 2
    with pytest.raises(Exception, match="unknown trace export format"):
        export_rows([], "otlp")


# Phoenix's own warnings, not ours to fix: its ldap3 import uses names pyasn1 deprecates, and its timestamp
# normalisation calls a pandas function pandas 3 deprecates.
@pytest.mark.filterwarnings("ignore:.*Map is deprecated:DeprecationWarning",
                            "ignore:is_datetime64tz_dtype is deprecated")
def test_phoenix_loads_the_spans(trace, failed, trace_file, tmp_path):
    decoder = pytest.importorskip("phoenix.trace.span_json_decoder", exc_type=ImportError,
                                  reason="arize-phoenix is not importable, so Phoenix's reader is not tried: "
                                         "pip install -e '.[phoenix]' to run this check")
    from phoenix.trace.schemas import SpanStatusCode
    from phoenix.trace.trace_dataset import TraceDataset
    from phoenix.trace.utils import json_lines_to_df

    iso = tmp_path / "phoenix-iso.jsonl"
    assert main(["trace", "export", str(trace_file), "--times", "iso", "--out", str(iso)]) == 0
    spans = [decoder.json_string_to_span(line) for line in iso.read_text().splitlines()]  # Phoenix's span decoder
    ours = trace.spans + failed.spans
    assert [(s.name, s.parent_id, s.context.span_id) for s in spans] == [(s.name, s.parent_id, s.span_id) for s in ours]
    assert [s.span_kind.value for s in spans] == [s.kind.upper() for s in ours]
    assert [s.status_code for s in spans[-2:]] == [SpanStatusCode.ERROR] * 2 and spans[-1].events[0].name == "exception"
    assert all(s.start_time.year == datetime.now().year and s.end_time >= s.start_time for s in spans)

    out = tmp_path / "phoenix.jsonl"  # the default: times in seconds, which Phoenix's file reader takes on pandas 3
    assert main(["trace", "export", str(trace_file), "--out", str(out)]) == 0
    ds = TraceDataset(json_lines_to_df(out.read_text().splitlines()))  # as Phoenix loads a span file
    assert len(ds.dataframe) == len(ours) and str(ds.dataframe["start_time"].dt.tz) == "UTC"
    back = list(ds.to_spans())
    assert [(s.name, s.parent_id, s.span_kind, s.status_code) for s in back] == [
        (s.name, s.parent_id, s.span_kind, s.status_code) for s in spans]
    assert all(abs((a.start_time - b.start_time).total_seconds()) < 1e-3 for a, b in zip(back, spans, strict=True))
    loaded = {s.name: s for s in back if s.context.trace_id == trace.trace_id}
    assert set(loaded) == {s.name for s in trace.spans} and back[-1].events[0].name == "exception"
    llm = loaded["draft"].attributes["llm"]
    assert llm["token_count"]["total"] == llm["token_count"]["prompt"] + llm["token_count"]["completion"] > 0
    assert llm["output_messages"][0]["message"]["role"] == "assistant"
    docs = loaded["retrieve"].attributes["retrieval"]["documents"]
    assert [d["document"]["id"] for d in docs] == trace.span("retrieve").outputs["cards"]
