"""The export view headless on the tiny model: export, parity table, speed chart; Stop; no variant ticked."""

from widgets.export import ExportView, parity_table_html
from workbench.parity import comparison_table


def test_export_shows_parity_and_speed(tmp_path, monkeypatch):
    monkeypatch.setenv("WORKBENCH_EXPORTS", str(tmp_path))
    view = ExportView(model="tiny-llama", variants=("fp32", "int8"), max_new_tokens=8)
    seen = []
    view.bar.observe(lambda ch: seen.append((view.bar.value, view.bar.max)), names="value")
    view.start_button.click()
    r = view.job.wait(timeout=900)
    assert [p["variant"] for p in r["parity"]] == ["fp32", "int8"]
    assert "wb-parity" in view.table.value and "faithful" in view.table.value
    assert [s["backend"] for s in r["speed"]] == ["torch", "onnx", "onnx"]
    (plot,) = view.plot.children
    fig = plot.figure
    assert [t.name for t in fig.data] == ["decode", "prefill", "loaded (RSS added)", "weights on disk"]
    assert (tmp_path / "onnx" / "tiny-llama" / "int8" / "parity.json").is_file()
    assert "Done" in view.status.value and not view.start_button.disabled
    # Issue #20: a progress bar that moves step by step to its end
    assert len({v for v, _ in seen}) >= 8 and view.bar.value == view.bar.max == 2 + 3 * 3  # 2 exports, 3 models
    # Issue #20: each check shows its measured value against its limit
    assert "✓ greedy agreement 1 (limit ≥ 1)" in view.table.value and "limit ≤ 5 %" in view.table.value
    # Issue #20: the memory bars showed the kernel's growing RSS, so the last variant loaded looked the heaviest;
    # now each variant is measured alone, in a fresh process, beside its weight files' size
    torch_s, fp32, int8 = r["speed"]
    assert torch_s["disk_mb"] is None and torch_s["load_rss_mb"] > 0  # the test model has no files
    assert int8["disk_mb"] < fp32["disk_mb"] and all(s["load_rss_mb"] > 0 for s in (fp32, int8))
    assert list(fig.data[3].y) == [None, fp32["disk_mb"], int8["disk_mb"]]
    assert any("fresh process" in a.text for a in fig.layout.annotations)


def test_failed_verdict_names_value_and_limit():
    row = {"variant": "int4", "max_abs_logit_diff": 2.5, "mean_abs_logit_diff": 0.4, "greedy_agreement": 0.09,
           "ppl": 23.0, "ppl_delta_pct": 15.2, "passed": False,
           "limits": {"ppl_delta_pct": ["<=", 5.0], "greedy_agreement": [">=", 0.5]}}
    out = parity_table_html([row])
    assert "<b>FAILS</b>" in out and "✗ perplexity Δ vs fp32 +15.20 % (limit ≤ 5 %)" in out
    assert "✗ greedy agreement 0.09 (limit ≥ 0.5)" in out
    table = comparison_table({"parity": [row], "speed": [{"decode_tok_s": 10.0}, {"decode_tok_s": 30.0}]})
    assert "FAILS perplexity Δ vs fp32 +15.20 % (limit ≤ 5 %); greedy agreement 0.09 (limit ≥ 0.5)" in table
    del row["limits"]  # a report saved before limits were recorded: today's limits for its variant
    assert "(limit ≤ 5 %)" in parity_table_html([row])


def test_nothing_ticked_is_explained(tmp_path, monkeypatch):
    monkeypatch.setenv("WORKBENCH_EXPORTS", str(tmp_path))
    view = ExportView(model="tiny-llama", variants=())
    view.start_button.click()
    assert view.job.wait(timeout=60) is None and "Tick at least one" in view.status.value


def test_stop_before_export_keeps_nothing_half_written(tmp_path, monkeypatch):
    monkeypatch.setenv("WORKBENCH_EXPORTS", str(tmp_path))
    view = ExportView(model="tiny-llama", variants=("fp32", "int8", "int4"))
    view.start_button.click()
    view.stop.click()
    view.job.wait(timeout=600)
    assert "Stopped" in view.status.value
    for d in (tmp_path / "onnx" / "tiny-llama").glob("*"):  # whatever exists is complete
        assert (d / "manifest.json").is_file(), d
