"""Bad input files and out-of-range values (#15): each is refused at the boundary with the file:line or the
value, the accepted values and the fix; through the CLI with exit code 2 (1 when ``corpora check`` finds
problems), and nothing half-written is left behind."""

from __future__ import annotations

import json
import shutil
import threading
from pathlib import Path

import pytest

from workbench import corpora as C
from workbench import finetune as ft
from workbench import paths
from workbench.cli import main
from workbench.corpus_readers import iter_csv
from workbench.documents import read_documents
from workbench.errors import CorpusError, Problems, WorkbenchError
from workbench.inventories import load_inventory

SHIPPED = Path(__file__).resolve().parents[2] / "corpora"
IPIP = "item,key,trait\nI keep my desk tidy.,+,order\nI leave things lying around.,-,order\n" \
       "I finish what I start.,+,order\nI chat with strangers.,+,social\nI avoid parties.,-,social\n" \
       "I like crowds.,+,social\n"
DIALOGUES = [[{"role": "user", "content": f"Question {i}: how do I open a first session with a tense client?"},
              {"role": "assistant", "content": "Name the purpose, then ask what they hope to get from it."}]
             for i in range(8)]


@pytest.fixture()
def exports(tmp_path, monkeypatch) -> Path:
    root = tmp_path / "exports"
    monkeypatch.setenv("WORKBENCH_EXPORTS", str(root))
    return root


@pytest.fixture()
def corpora(tmp_path, monkeypatch, exports) -> Path:
    """A copy of the shipped corpora that a test may break."""
    root = shutil.copytree(SHIPPED, tmp_path / "corpora")
    monkeypatch.setenv("WORKBENCH_CORPORA", str(root))
    return Path(root)


@pytest.fixture()
def dialogues(tmp_path) -> Path:
    f = tmp_path / "dialogues.jsonl"
    f.write_text("".join(json.dumps({"id": f"d{i}", "messages": m}) + "\n" for i, m in enumerate(DIALOGUES)))
    return f


def no_leftovers(root: Path) -> None:
    """Nothing half-written: no temp file or folder of an atomic write anywhere under ``root``."""
    left = [p for p in root.rglob("*") if p.name.endswith(".tmp") or ".old-" in p.name] if root.exists() else []
    assert not left, left


def nothing_written(folder: Path) -> bool:
    """No file under ``folder`` (a job may create its output folder first, to check it is writable)."""
    return not folder.exists() or not any(p.is_file() for p in folder.rglob("*"))


def latin1(path: Path, line: int, word: str) -> int:
    """Replace ``word`` on ``line`` (1-based) by itself followed by a Latin-1 é; the é's column."""
    lines = path.read_bytes().split(b"\n")
    col = lines[line - 1].index(word.encode()) + len(word) + 1
    lines[line - 1] = lines[line - 1].replace(word.encode(), word.encode() + b"\xe9", 1)
    path.write_bytes(b"\n".join(lines))
    return col


# ---- encoding: one latin-1 byte, in each format ----------------------------------------------------
def test_latin1_byte_in_a_card_names_file_line_column(corpora):
    card = corpora / "knowledge" / "grief-support.md"
    col = latin1(card, 3, "Supporting")  # the title line of the front matter
    with pytest.raises(CorpusError) as e:
        C.load_cards()
    assert e.value.where == f"{card}:3"
    assert f"byte 0xe9 at line 3, column {col}" in e.value.what and "UTF-8" in e.value.what
    assert "save the file as UTF-8" in e.value.fix


def test_latin1_byte_in_a_query_jsonl_through_evaluate(tmp_path, exports, capsys):
    q = tmp_path / "queries.jsonl"
    q.write_bytes(b'{"id": "q1", "text": "How do I start?"}\n{"id": "q2", "text": "Caf\xe9 talk"}\n')
    out = tmp_path / "run"
    assert main(["evaluate", "--queries", str(q), "--model", "tiny-llama", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert f"{q}:2" in err and "UTF-8" in err and "byte 0xe9" in err and "Fix: save the file as UTF-8" in err
    assert not out.exists()
    no_leftovers(tmp_path)


def test_latin1_byte_in_a_documents_csv(tmp_path):
    """Documents are skipped with the reason (the index keeps the rest); the reason names file:line and the fix."""
    docs = tmp_path / "docs"
    docs.mkdir()
    bad = docs / "notes.csv"
    bad.write_bytes(b"title,text\nSleep,Keep a regular wake time.\nDiet,Caf\xe9 late is bad.\n")
    (docs / "good.md").write_text("## Sleep\nKeep a regular wake time.\n")
    got = read_documents(docs)
    assert [d["file"] for d in got.indexed] == [str(docs / "good.md")]
    (skipped,) = got.skipped
    assert skipped["file"] == str(bad)
    assert "byte 0xe9 at line 3, column 9" in skipped["why"] and "save the file as UTF-8" in skipped["why"]
    with pytest.raises(CorpusError) as e:  # the reader on its own raises at file:line
        list(iter_csv(bad))
    assert e.value.where == f"{bad}:3"


def test_latin1_byte_in_a_yaml_file(corpora):
    rubric = corpora / "rubric" / "tbars.yaml"
    col = latin1(rubric, 2, "Therapist")
    with pytest.raises(CorpusError) as e:
        C.load_rubric(rubric)
    assert e.value.where == f"{rubric}:2" and f"line 2, column {col}" in e.value.what
    assert "UTF-8" in e.value.what and "UTF-8" in e.value.fix


# ---- CSV structure ---------------------------------------------------------------------------------
def test_csv_with_an_unclosed_quote_through_profile(tmp_path, exports, capsys):
    inv = tmp_path / "mini.csv"
    inv.write_text(IPIP.replace("I finish what I start.", '"I finish what I start.'))
    assert main(["profile", "--model", "tiny-llama", "--inventory", str(inv), "--variants", "2",
                 "--out", str(tmp_path / "prof")]) == 2
    err = capsys.readouterr().err
    assert f"{inv}:4" in err and "never closed" in err and "close the quote" in err
    assert nothing_written(tmp_path / "prof")
    no_leftovers(tmp_path)


def test_csv_with_a_short_row_through_finetune(tmp_path, exports, capsys):
    data = tmp_path / "qa.csv"
    data.write_text("question,answer\nHow do I begin?,Name the purpose.\nWhat next?\n"
                    + "".join(f"Q{i}?,A{i}.\n" for i in range(6)))
    assert main(["finetune", "--name", "qa", "--model", "tiny-llama", "--data", str(data), "--steps", "1"]) == 2
    err = capsys.readouterr().err
    assert f"{data}:3" in err
    assert "the row on line 3 has 1 cell(s), fewer than the header's 2 (question, answer)" in err
    assert "one cell per column" in err
    assert nothing_written(exports / "adapters" / "qa") and nothing_written(ft.run_dir("qa"))
    no_leftovers(tmp_path)


def test_csv_with_a_long_row_is_reported_and_collected(tmp_path):
    inv = tmp_path / "mini.csv"
    inv.write_text(IPIP.replace("I chat with strangers.,+,social", "I chat, laugh and joke.,+,social"))
    with pytest.raises(CorpusError, match="4 cell.*more than the header's 3") as e:
        load_inventory(inv)
    assert e.value.where == f"{inv}:5" and "quote a cell that holds a comma" in e.value.fix
    pr = Problems(strict=False)
    assert len(load_inventory(inv, pr).items) == 5 and [p.line for p in pr.items] == [5]


def test_csv_missing_a_column(tmp_path):
    inv = tmp_path / "mini.csv"
    inv.write_text(IPIP.replace("item,key,trait", "item,sign,trait"))
    with pytest.raises(CorpusError) as e:
        load_inventory(inv)
    assert e.value.where == f"{inv}:1"
    assert "the header (line 1) lacks the column(s) key (it has item, sign, trait)" in e.value.what
    assert "item, key (+ or -), trait" in e.value.fix
    docs = tmp_path / "a.csv"
    docs.write_text('title,text\nSleep,"Keep a regular\nwake time.\nDiet,x\n')
    with pytest.raises(CorpusError, match="never closed") as e:
        list(iter_csv(docs, required=("title", "text")))
    assert e.value.where == f"{docs}:2"  # where the quote opens, not where the file ends
    (skipped,) = read_documents(docs).skipped
    assert "starts on line 2 is never closed" in skipped["why"] and "close the quote" in skipped["why"]


# ---- corpora check collects across files -----------------------------------------------------------
def test_corpora_check_reports_two_bad_files_and_checks_the_rest(corpora, capsys):
    card = corpora / "knowledge" / "grief-support.md"
    latin1(card, 3, "Supporting")
    rubric = corpora / "rubric" / "tbars.yaml"
    rubric.write_text(rubric.read_text().replace("    levels:\n", '    levels: "1 to 5"\n    old_levels:\n', 1))
    assert main(["corpora", "check"]) == 1
    out = capsys.readouterr().out
    assert f"{card}:3: not UTF-8 text: byte 0xe9" in out
    assert f"{rubric}:" in out and "levels of empathy must be a list, not str" in out and "- level: N" in out
    shipped_cards = len([f for f in (SHIPPED / "knowledge").glob("*.md") if f.name != "README.md"])
    assert f"cards                  {shipped_cards - 1}\n" in out  # every other card was still read
    assert "dialogues              " in out and "OK: no problems" not in out


# ---- values at the boundary: fine-tuning -----------------------------------------------------------
@pytest.mark.parametrize("flag, value, accepted", [("--steps", "0", "steps must be a whole number ≥ 1"),
                                                    ("--lr", "-1", "lr must be a number > 0"),
                                                    ("--epochs", "0", "epochs must be a number > 0"),
                                                    ("--rank", "0", "rank must be a whole number ≥ 1")])
def test_finetune_refuses_out_of_range_values(flag, value, accepted, dialogues, exports, capsys):
    assert main(["finetune", "--name", "v", "--model", "tiny-llama", "--data", str(dialogues), flag, value]) == 2
    err = capsys.readouterr().err
    name = flag[2:]
    assert f"{name}={float(value) if name in ('lr', 'epochs') else int(value)!r} is not accepted" in err
    assert accepted in err and f"({flag} on the command line)" in err and f"Fix: set {name} to" in err
    assert not (exports / "adapters" / "v").exists() and not ft.run_dir("v").exists()
    no_leftovers(exports.parent)


def test_train_config_validate_names_field_and_range():
    assert ft.TrainConfig(steps=None).validate().steps is None  # absent: derived from epochs
    with pytest.raises(WorkbenchError, match=r"dropout=1\.5 is not accepted: dropout must be a number in \[0, 1\)"):
        ft.TrainConfig(dropout=1.5).validate()
    with pytest.raises(WorkbenchError, match="data must be a list") as e:
        ft.TrainConfig(data="my.jsonl").validate()
    assert '["my.jsonl"]' in e.value.fix
    with pytest.raises(WorkbenchError, match="steps=True"):
        ft.train(ft.TrainConfig(model="tiny-llama", steps=True))


def test_resume_with_another_lr_says_which_setting_differs(dialogues, exports):
    cfg = dict(name="r", model="tiny-llama", data=[str(dialogues)], steps=4, lr=5e-3, tokens_per_batch=256,
               save_every=2, eval_every=0, eval_fraction=0.25, dropout=0.0, system="none")
    cancel = threading.Event()
    r = ft.train(ft.TrainConfig(**cfg), progress=lambda s, n, rec: s >= 2 and cancel.set(), cancel=cancel)
    assert r.status == "cancelled"
    with pytest.raises(WorkbenchError) as e:
        ft.train(ft.TrainConfig(**cfg | {"lr": 1e-2}), resume=True)
    assert "other settings: lr: 0.005 → 0.01." in e.value.what  # only the setting that differs
    assert "resume with the checkpoint's values" in e.value.fix
    assert not (exports / "adapters" / "r").exists()
    no_leftovers(exports)


# ---- values at the boundary: corpus fields ---------------------------------------------------------
def test_risk_no_in_a_query_file_is_refused(tmp_path, exports, capsys):
    q = tmp_path / "queries.jsonl"
    q.write_text('{"id": "q1", "text": "How do I start?", "risk": false}\n'
                 '{"id": "q2", "text": "I want to end it.", "risk": "no"}\n')
    out = tmp_path / "run"
    assert main(["evaluate", "--queries", str(q), "--model", "tiny-llama", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert f"{q}:2" in err and "risk must be true or false, not 'no'" in err and "without quotes" in err
    assert not out.exists()
    pr = Problems(strict=False)
    assert [x.risk for x in C.load_queries(q, pr)] == [False, False] and len(pr.items) == 1


def test_enumerated_fields_take_only_their_values(tmp_path, corpora):
    q = tmp_path / "queries.jsonl"
    q.write_text('{"id": "q1", "text": "How do I start?", "speaker": "therapist"}\n')
    with pytest.raises(CorpusError, match="unknown speaker 'therapist'") as e:
        C.load_queries(q)
    assert e.value.where == f"{q}:1" and e.value.fix == "use one of: clinician, client"
    card = corpora / "knowledge" / "grief-support.md"
    card.write_text(card.read_text().replace("topic: grief", "topic: mourning", 1))
    with pytest.raises(CorpusError, match="unknown topic 'mourning'") as e:
        C.load_cards()
    assert e.value.where == f"{card}:4" and "grief" in e.value.fix  # the line of the field itself
    q.write_text('{"id": "q1", "text": "How?", "key_points": "be brief"}\n')
    with pytest.raises(CorpusError, match="key_points must be a list of strings"):
        C.load_queries(q)


def test_rubric_levels_given_as_a_string(tmp_path):
    f = tmp_path / "mini.yaml"
    f.write_text("name: mini\nscale: {min: 1, max: 2}\ndimensions:\n  - id: empathy\n    name: Empathy\n"
                 "    definition: feels with\n    framework: EPITOME\n    levels: 1 to 2\n")
    with pytest.raises(CorpusError) as e:
        C.load_rubric(f)
    assert e.value.where == f"{f}:4" and "levels of empathy must be a list, not str" in e.value.what
    assert "'- level: N'" in e.value.fix
    f.write_text(f.read_text().replace("levels: 1 to 2", "levels: [1, 2]"))
    with pytest.raises(CorpusError, match="level 1 of empathy is not an integer 1..2"):
        C.load_rubric(f)


def test_inventory_key_x_through_profile(corpora, tmp_path, capsys):
    inv = corpora / "inventories" / "bigfive.yaml"
    inv.write_text(inv.read_text().replace("key: 1}", "key: x}", 1))
    out = tmp_path / "prof"
    assert main(["profile", "--model", "tiny-llama", "--inventory", "bigfive", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert f"{inv}:24" in err and "item O01 has key 'x'" in err and "use 1 or + (positively keyed) or -1" in err
    assert nothing_written(out)
    no_leftovers(tmp_path)


def test_yaml_syntax_error_names_line_and_column(tmp_path):
    f = tmp_path / "library.yaml"
    f.write_text("prompts:\n  - id: baseline\n    purpose: x\n    text: a: b: c\n")
    with pytest.raises(CorpusError) as e:
        C.load_prompts(f)
    assert e.value.where == f"{f}:4" and "column" in e.value.what and "quotes" in e.value.fix


def test_a_bad_safety_file_is_reported_and_the_others_still_read(corpora):
    (corpora / "safety" / "resources.yaml").write_text("- just\n- a list\n")
    pr = Problems(strict=False)
    config = C.load_safety_config(problems=pr)
    assert config["categories"] and config["escalation"] and config["resources"] == {}
    assert len(pr.items) == 1 and pr.items[0].path.endswith("resources.yaml")
    assert "must be a mapping" in str(pr.items[0])
    with pytest.raises(CorpusError, match="must be a mapping"):
        C.load_safety_config()


# ---- the profile gate says why ---------------------------------------------------------------------
def test_profile_of_a_model_with_no_mass_on_the_options_says_why(tmp_path, exports, capsys):
    inv = tmp_path / "mini.csv"
    inv.write_text(IPIP)
    out = tmp_path / "prof"
    assert main(["profile", "--model", "tiny-llama", "--inventory", str(inv), "--variants", "2",
                 "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    lines = [ln for ln in printed.splitlines() if ln.startswith(("order", "social"))]
    assert len(lines) == 2 and all("NOT INTERPRETABLE: the model puts almost no probability on the answer options"
                                   in ln and "instruction-tuned model" in ln for ln in lines)
    data = json.loads((out / "profile.json").read_text())
    assert all(t["valid_mass"] < 1e-3 and not t["interpretable"] for t in data["traits"].values())
    no_leftovers(tmp_path)
    assert paths.exports_dir() == exports
