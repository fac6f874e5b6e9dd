"""The export view headless on the tiny model: export, parity table, speed chart; Stop; no variant ticked."""

from widgets.export import ExportView


def test_export_shows_parity_and_speed(tmp_path, monkeypatch):
    monkeypatch.setenv("WORKBENCH_EXPORTS", str(tmp_path))
    view = ExportView(model="tiny-llama", variants=("fp32", "int8"), max_new_tokens=8)
    view.start_button.click()
    r = view.job.wait(timeout=600)
    assert [p["variant"] for p in r["parity"]] == ["fp32", "int8"]
    assert "wb-parity" in view.table.value and "faithful" in view.table.value
    assert [s["backend"] for s in r["speed"]] == ["torch", "onnx", "onnx"]
    (fig,) = view.plot.children
    assert [t.name for t in fig.data] == ["decode", "prefill", "memory"]
    assert (tmp_path / "onnx" / "tiny-llama" / "int8" / "parity.json").is_file()
    assert "Done" in view.status.value and not view.start_button.disabled


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
