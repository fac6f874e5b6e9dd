"""Bad inputs at the command line (#15): user documents that cannot be indexed are reported, not indexed as
garbage; an index file that changed is refused with the fix; search results do not depend on the limit; and
the exit status says which of success / problems found / bad input / internal error happened."""

import io
import json
import shutil
from contextlib import redirect_stderr
from pathlib import Path

import pytest

from workbench import retrieval as R
from workbench.cli import main
from workbench.documents import read_documents
from workbench.errors import WorkbenchError


def no_leftovers(root: Path) -> None:
    """No temp file or folder (``.name.XXXX.tmp``) from an atomic write is left under ``root``."""
    left = [p for p in Path(root).rglob("*") if p.name.endswith(".tmp") or ".old-" in p.name]
    assert left == []


def text_pdf(path: Path, text: str) -> Path:
    """A one-page PDF whose page draws ``text`` in Helvetica, written object by object with its xref table."""
    content = f"BT /F1 12 Tf 72 720 Td ({text}) Tj ET".encode()
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
               b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 4 0 R >> >> "
               b"/Contents 5 0 R >>", b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
               b"<< /Length %d >>\nstream\n%s\nendstream" % (len(content), content)]
    out, offsets = bytearray(b"%PDF-1.4\n"), []
    for n, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (n, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    path.write_bytes(bytes(out))
    return path


def blank_pdf(path: Path) -> Path:
    """An image-only PDF as far as text goes: one page with nothing to extract (pypdf's own writer)."""
    from pypdf import PdfWriter

    w = PdfWriter()
    w.add_blank_page(612, 792)
    with open(path, "wb") as fh:
        w.write(fh)
    return path


def docs_folder(root: Path) -> Path:
    docs = root / "docs"
    (docs / ".ipynb_checkpoints").mkdir(parents=True)
    (docs / "EXPOSURE.MD").write_text("## Ladder\nThe Quillfield ladder starts with the lift lobby, then one floor.\n")
    (docs / "blob.txt").write_bytes(b"GIF89a\x00\x01\x02\x03 not text at all")
    (docs / "latin.md").write_bytes("## Caf\xe9\nThe waiting room has a caf\xe9.\n".encode("latin-1"))
    text_pdf(docs / "policy.PDF", "The Marrowgate clinic closes at noon on Fridays.")
    blank_pdf(docs / "scan.pdf")
    (docs / "notes.docx").write_bytes(b"PK\x03\x04 a Word file")
    (docs / ".ipynb_checkpoints" / "EXPOSURE-checkpoint.MD").write_text("## Old\nan old copy\n")
    return docs


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """The shipped cards plus a folder of good and bad documents, indexed once through ``workbench index``."""
    root = tmp_path_factory.mktemp("badcli")
    mp = pytest.MonkeyPatch()
    mp.setenv("WORKBENCH_EXPORTS", str(root / "exports"))
    docs = docs_folder(root)
    with redirect_stderr(io.StringIO()) as err:
        rc = main(["index", "--docs", str(docs)])
    yield {"root": root, "docs": docs, "rc": rc, "err": err.getvalue()}
    mp.undo()


def _skipped(summary: dict) -> dict[str, str]:
    return {Path(s["file"]).name: s["why"] for s in summary["skipped"]}


# ---- documents ----------------------------------------------------------------------------------
def test_upper_case_markdown_suffix_is_read_as_markdown(tmp_path):
    found = read_documents(docs_folder(tmp_path))
    exposure = [c for c in found.chunks if c.card == "EXPOSURE"]
    assert [c.heading for c in exposure] == ["Ladder"] and "Quillfield ladder" in exposure[0].text
    assert exposure[0].source == "EXPOSURE.MD" and "EXPOSURE.MD" not in _skipped(found.summary())
    assert not any("checkpoint" in c.source for c in found.chunks)  # hidden folders are not documents


def test_binary_and_non_utf8_text_are_reported_not_indexed(tmp_path):
    found = read_documents(docs_folder(tmp_path))
    why = _skipped(found.summary())
    assert why["blob.txt"].startswith("a binary file, not text (a NUL byte at offset 6)")
    assert "save it as UTF-8" in why["blob.txt"]
    assert "not UTF-8 text: byte 0xe9 at line 1, column 7" in why["latin.md"] and "Latin-1" in why["latin.md"]
    assert not any(c.card in ("blob", "latin") for c in found.chunks)  # no garbage chunk, no U+FFFD text
    assert all("\ufffd" not in c.text for c in found.chunks)


def test_a_pdf_with_text_is_indexed_page_by_page(tmp_path):
    found = read_documents(text_pdf(tmp_path / "policy.PDF", "The Marrowgate clinic closes at noon on Fridays."))
    [chunk] = found.chunks
    assert chunk.id == "policy:p1#0.0" and chunk.source == "policy.PDF p. 1"
    assert "Marrowgate clinic closes at noon" in chunk.text
    assert found.indexed == [{"file": str(tmp_path / "policy.PDF"), "chunks": 1}] and found.skipped == []


def test_a_pdf_without_text_or_broken_is_reported_skipped(tmp_path):
    blank_pdf(tmp_path / "scan.pdf")
    (tmp_path / "torn.pdf").write_bytes(text_pdf(tmp_path / "x.pdf", "whole")
                                        .read_bytes()[:60])  # a download cut short
    (tmp_path / "x.pdf").unlink()
    found = read_documents(tmp_path)
    why = _skipped(found.summary())
    assert found.chunks == [] and set(why) == {"scan.pdf", "torn.pdf"}
    assert why["scan.pdf"].startswith("a PDF without extractable text") and "run OCR" in why["scan.pdf"]
    assert why["torn.pdf"].startswith("not a readable PDF (") and "re-save it" in why["torn.pdf"]


def test_an_unknown_file_type_is_reported(tmp_path):
    why = _skipped(read_documents(docs_folder(tmp_path)).summary())
    assert why["notes.docx"] == "not a type the index reads (.docx; it reads .md, .txt, .jsonl, .csv, .pdf)"
    with pytest.raises(WorkbenchError, match="does not exist") as exc:
        read_documents(tmp_path / "nowhere")
    assert exc.value.where == str(tmp_path / "nowhere") and "point at a folder" in exc.value.fix


def test_cli_index_shows_what_was_indexed_and_skipped(built):
    assert built["rc"] == 0
    err, docs = built["err"], built["docs"]
    assert "documents: 2 file(s) indexed (2 chunks), 4 skipped:" in err
    for name, why in [("blob.txt", "a binary file"), ("latin.md", "not UTF-8 text"),
                      ("scan.pdf", "a PDF without extractable text"), ("notes.docx", "not a type the index reads")]:
        assert f"  skipped {docs / name}: {why}" in err
    m = R.manifest()
    assert {Path(d["file"]).name for d in m["documents"]["indexed"]} == {"EXPOSURE.MD", "policy.PDF"}
    assert R.Index().search("Marrowgate clinic Friday closing", 1)[0].source == "policy.PDF p. 1"
    no_leftovers(built["root"] / "exports")


# ---- search -------------------------------------------------------------------------------------
def test_search_limit_1_is_the_first_of_limit_10(built, capsys):
    from workbench.corpora import load_queries

    index = R.Index()
    for n, q in enumerate(load_queries()[:24]):  # with a pool as large as the limit, 8 of these differed
        for topic in (None, q.topic or None, "anxiety") if n < 4 else (None,):
            one, ten = index.search(q.text, 1, topic=topic), index.search(q.text, 10, topic=topic)
            assert [(h.id, round(h.score, 6)) for h in one] == [(h.id, round(h.score, 6)) for h in ten[:1]]
            assert ten[0].score == max(h.score for h in ten)
    query = "How do I tell reasonable caution from anxiety-driven avoidance?"
    assert main(["search", query, "--limit", "1", "--json"]) == 0
    one = json.loads(capsys.readouterr().out)
    assert main(["search", query, "--limit", "10", "--json"]) == 0
    assert one == json.loads(capsys.readouterr().out)[:1]


# ---- index integrity ----------------------------------------------------------------------------
def _copy_index(name: str) -> Path:
    shutil.copytree(R.index_dir(), R.index_dir(name))
    return R.index_dir(name)


def test_a_flipped_byte_in_an_index_file_is_detected(built, capsys):
    target = _copy_index("flipped") / "txtai" / "embeddings"
    R.Index("flipped")  # intact: loads (and remembers the verified file versions)
    data = bytearray(target.read_bytes())
    data[len(data) // 2] ^= 0x01
    target.write_bytes(bytes(data))  # same size, one bit changed
    with pytest.raises(WorkbenchError, match="embeddings of index 'flipped' is corrupt") as exc:
        R.Index("flipped")
    assert exc.value.where == str(target) and exc.value.fix == "rebuild it: workbench index --name flipped"
    assert main(["search", "thought records", "--name", "flipped"]) == 2
    err = capsys.readouterr().err
    assert f"Where: {target}" in err and "Fix: rebuild it: workbench index --name flipped" in err
    R.Index()  # the intact index still loads


def test_an_index_without_checksums_counts_as_outdated_and_is_rebuilt(built):
    from workbench.io import write_json

    folder = _copy_index("old")
    old = {k: v for k, v in R.manifest("old").items() if k != "files"}
    write_json(folder / "manifest.json", old)
    assert R.index_status("old") == ("outdated", [])
    with pytest.raises(WorkbenchError, match="recorded no checksums") as exc:
        R.Index("old")
    assert exc.value.fix == "rebuild it: workbench index --name old" and exc.value.where.endswith("manifest.json")
    assert R.ensure_index("old") == folder  # rebuilt over the same document folder, checksums included
    m = R.manifest("old")
    assert R.index_status("old")[0] == "fresh" and m["folders"] == [str(built["docs"])]
    assert set(m["files"]) >= {"txtai/config.json", "txtai/embeddings"} and len(m["files"]["txtai/embeddings"]
                                                                                 ["sha256"]) == 64
    assert R.Index("old").search("Quillfield ladder", 1)[0].card == "EXPOSURE"
    no_leftovers(built["root"] / "exports")


# ---- exit codes ---------------------------------------------------------------------------------
def test_a_workbench_error_exits_2_with_what_where_and_fix(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("WORKBENCH_EXPORTS", str(tmp_path))
    assert main(["search", "sleep hygiene", "--name", "nope"]) == 2
    err = capsys.readouterr().err
    assert "error: No index named 'nope'." in err and f"Where: {tmp_path / 'indexes' / 'nope'}" in err
    assert "Fix: build it: workbench index --name nope" in err and "Traceback" not in err


def test_a_usage_error_exits_2(capsys):
    assert main(["search", "sleep", "--limit", "many"]) == 2
    assert "argument --limit: invalid int value: 'many'" in capsys.readouterr().err
    assert main(["serach", "sleep"]) == 2
    assert "invalid choice: 'serach'" in capsys.readouterr().err


def test_help_documents_the_exit_codes(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    assert "exit codes:" in out and "  2    bad input or usage" in out and "  3    internal error" in out
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    assert "Exit codes (also in `workbench --help`): **0** success; **1** the check found problems" in readme


def _crash(args):
    return {}["a key no command has"]  # a bug, as a command would have one


def test_an_internal_error_exits_3_with_one_line_and_a_log_file(tmp_path, monkeypatch, capsys):
    from workbench import cli

    monkeypatch.setenv("WORKBENCH_EXPORTS", str(tmp_path / "exports"))
    monkeypatch.setattr(cli, "_info", _crash)
    assert main(["info", "--json"]) == 3
    err = capsys.readouterr().err
    [log] = (tmp_path / "exports" / "logs").glob("error-*.log")
    assert err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith("internal error (a bug in the workbench): KeyError: 'a key no command has' at ")
    assert f"test_bad_inputs_cli.py:{_crash.__code__.co_firstlineno + 1}" in err
    assert f"the full traceback is in {log}." in err
    text = log.read_text()
    assert "command: workbench info --json" in text and "Traceback (most recent call last)" in text
    assert "KeyError: 'a key no command has'" in text
    no_leftovers(tmp_path / "exports")


def test_an_internal_error_log_falls_back_to_the_temp_folder(tmp_path, monkeypatch, capsys):
    import tempfile

    from workbench import cli

    (tmp_path / "a-file").write_text("not a folder")
    monkeypatch.setenv("WORKBENCH_EXPORTS", str(tmp_path / "a-file" / "exports"))  # cannot be created
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    monkeypatch.setattr(cli, "_info", _crash)
    assert main(["info"]) == 3
    [log] = (tmp_path / "tmp").glob("error-*.log")
    assert f"the full traceback is in {log}." in capsys.readouterr().err
    assert "KeyError" in log.read_text()
    no_leftovers(tmp_path)


def test_corpora_check_finding_problems_exits_1(tmp_path, capsys):
    from workbench import paths

    (tmp_path / "knowledge").mkdir()
    card = tmp_path / "knowledge" / "mi-oars.md"
    card.write_text((paths.corpora_dir() / "knowledge" / "mi-oars.md").read_text().replace("topic:", "topik:", 1))
    assert main(["corpora", "check", "--root", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert f"{card}:1: missing field(s): topic (fix: add them to this record)" in out
    assert "OK: no problems" not in out


# ---- the search widget ----------------------------------------------------------------------------
def test_the_search_widget_shows_the_skipped_files(built, tmp_path):
    from widgets.search import SearchView

    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "hours.md").write_text("## Opening hours\nThe Fernbrook clinic opens at seven on Saturdays.\n")
    (docs / "scan.pdf").write_bytes(blank_pdf(tmp_path / "scan.pdf").read_bytes())
    (docs / "blob.txt").write_bytes(b"\x00\x01binary")
    view = SearchView(name="widget")
    view.docs.value = str(docs)
    view.build.click()
    assert view.job.wait(120) is not None
    status = view.status.value
    assert "Indexed" in status and "documents: 1 file(s) indexed (1 chunks), 2 skipped:" in status
    assert f"skipped {docs / 'scan.pdf'}: a PDF without extractable text" in status
    assert f"skipped {docs / 'blob.txt'}: a binary file, not text" in status and "#cb6e17" in status  # warn
