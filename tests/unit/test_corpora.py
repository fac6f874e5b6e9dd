"""Loaders round-trip, bad input is rejected with file:line, and the shipped corpora pass the check."""

import json
from dataclasses import asdict

import pytest

from workbench import corpora as C
from workbench.corpus_check import check_all
from workbench.errors import CorpusError, Problems
from workbench.inventories import load_inventories, load_inventory
from workbench.io import write_jsonl

DLG = {"id": "d1", "messages": [{"role": "user", "content": "I feel low."},
                                {"role": "assistant", "content": "What has the last week been like?"}],
       "topic": "depression", "speaker": "client", "behaviours": ["exploration"]}


def test_shipped_corpora_pass_the_check():
    report = check_all()
    assert report.ok, report.text()
    assert report.counts["cards"] >= 60 and report.counts["dialogues"] >= 240
    assert report.counts["multi-turn dialogues"] >= 0.2 * report.counts["dialogues"]
    assert report.counts["queries"] >= 60 and report.counts["screening"] >= 1500


def test_every_shipped_record_type_loads():
    cards = C.load_cards()
    rubric = C.load_rubric()
    assert {c.id for c in cards} >= set(sum((q.relevant_cards for q in C.load_queries()), []))
    assert [d.id for d in rubric.dimensions] == C.DIMENSIONS
    assert all(set(d.anchors) == {1, 2, 3, 4, 5} for d in rubric.dimensions)
    invs = load_inventories()
    assert {"bigfive", "empathy"} <= set(invs)
    assert all(sum(i.trait == t for i in invs["bigfive"].items) >= 10 for t in invs["bigfive"].traits)
    assert {"baseline", "cotherapist"} <= set(C.load_prompts())
    # every card carries the short facts the agent shows a small model
    assert all(4 <= len(c.points) <= 6 and all(6 <= len(p.split()) <= 18 for p in c.points) for c in cards)


def test_card_points_must_be_sentences(tmp_path):
    (tmp_path / "x.md").write_text("---\nid: x\ntitle: X\ntopic: general\napproach: cbt\naudience: both\n"
                                   "sources: [a]\npoints: just one string\n---\n## A\nbody\n")
    from workbench.errors import Problems

    problems = Problems(strict=False)
    assert C.load_cards(tmp_path, problems) == [] and "points must be a list" in str(problems.items[0])


def test_dialogue_round_trip(tmp_path):
    f = tmp_path / "d.jsonl"
    dialogues = C.load_dialogues()[:5]
    write_jsonl(f, [{k: v for k, v in asdict(d).items() if k != "source"} for d in dialogues])
    again = C.load_dialogues(f, strict_fields=True)
    assert [(d.id, d.messages, d.behaviours) for d in again] == [(d.id, d.messages, d.behaviours) for d in dialogues]


def test_query_round_trip(tmp_path):
    f = tmp_path / "q.jsonl"
    queries = C.load_queries()[:4]
    write_jsonl(f, queries)
    assert C.load_queries(f) == queries


def test_bad_json_line_names_file_and_line(tmp_path):
    f = tmp_path / "d.jsonl"
    f.write_text(json.dumps(DLG) + "\n{broken\n")
    with pytest.raises(CorpusError) as e:
        C.load_dialogues(f)
    assert f"{f}:2" in str(e.value) and "not valid JSON" in str(e.value)


def test_missing_field_and_duplicate_id(tmp_path):
    f = tmp_path / "d.jsonl"
    no_topic = {k: v for k, v in DLG.items() if k != "topic"}
    f.write_text(json.dumps(no_topic) + "\n")
    with pytest.raises(CorpusError, match="missing field"):
        C.load_dialogues(f, strict_fields=True)
    f.write_text(json.dumps(DLG) + "\n" + json.dumps(DLG) + "\n")
    with pytest.raises(CorpusError) as e:
        C.load_dialogues(f)
    assert "duplicate dialogue id 'd1'" in str(e.value) and f"{f}:2" in str(e.value)


def test_collecting_mode_lists_every_problem(tmp_path):
    f = tmp_path / "d.jsonl"
    bad_role = dict(DLG, id="d2", messages=[{"role": "user", "content": "a"}, {"role": "user", "content": "b"}])
    f.write_text("\n".join([json.dumps(DLG), "nope", json.dumps(bad_role), json.dumps(dict(DLG, topic="x"))]))
    problems = Problems(strict=False)
    C.load_dialogues(f, problems, strict_fields=True)
    lines = sorted(p.line for p in problems.items)
    assert lines == [2, 3, 4, 4]  # bad JSON, turns not alternating, unknown topic + duplicate id


def test_sharegpt_and_qa_csv(tmp_path):
    sg = tmp_path / "sg.jsonl"
    sg.write_text(json.dumps({"id": "s1", "conversations": [{"from": "human", "value": "Hi"},
                                                           {"from": "gpt", "value": "Hello, how are you?"}]}))
    d = C.load_dialogues(sg)[0]
    assert d.messages == [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello, how are you?"}]
    qa = tmp_path / "qa.csv"
    qa.write_text("question,answer\nWhat is DBT?,A skills-based therapy.\n")
    assert C.load_qa_csv(qa)[0].messages[1]["content"] == "A skills-based therapy."
    qa.write_text("q,a\nx,y\n")
    with pytest.raises(CorpusError, match="question/answer columns"):
        C.load_qa_csv(qa)


def test_ipip_csv_inventory(tmp_path):
    f = tmp_path / "ipip.csv"
    f.write_text("item,key,trait\nAm the life of the party.,+,Extraversion\nDon't talk a lot.,-,Extraversion\n")
    inv = load_inventory(f)
    assert [(i.trait, i.key) for i in inv.items] == [("Extraversion", 1), ("Extraversion", -1)]
    f.write_text("item,key,trait\nAm calm.,?,Neuroticism\n")
    with pytest.raises(CorpusError) as e:
        load_inventory(f)
    assert f"{f}:2" in str(e.value)


def test_psychobench_json_inventory(tmp_path):
    f = tmp_path / "pb.json"
    f.write_text(json.dumps({
        "name": "MINI", "questions": {"1": "I talk a lot.", "2": "I keep quiet.", "3": "I worry."},
        "scale": 6, "compute_mode": "AVG", "reverse": [2],
        "inner_setting": "Rate each statement from 1 to 5.",
        "categories": [{"cat_name": "Extraversion", "cat_questions": [1, 2]},
                       {"cat_name": "Neuroticism", "cat_questions": [3]}]}))
    inv = load_inventory(f)
    assert inv.scale == ["1", "2", "3", "4", "5"]
    assert [(i.id, i.trait, i.key) for i in inv.items] == [("1", "Extraversion", 1), ("2", "Extraversion", -1),
                                                           ("3", "Neuroticism", 1)]


def test_unknown_trait_in_yaml_inventory(tmp_path):
    f = tmp_path / "inv.yaml"
    f.write_text("name: t\nscale: [No, Yes]\ntraits: {calm: calm}\nitems:\n"
                 "  - {id: A1, text: I stay calm., trait: calm, key: 1}\n"
                 "  - {id: A2, text: I panic., trait: panicky, key: -1}\n")
    with pytest.raises(CorpusError) as e:
        load_inventory(f)
    assert f"{f}:6" in str(e.value) and "unknown trait 'panicky'" in str(e.value)


def test_check_fails_on_a_broken_copy(tmp_path):
    import shutil

    from workbench import paths

    root = tmp_path / "corpora"
    shutil.copytree(paths.corpora_dir(), root)
    with (root / "queries" / "eval.jsonl").open("a") as fh:
        # a reworded paraphrase of client-001's opening turn: leakage even though no sentence matches
        fh.write(json.dumps({"id": "q-leak", "relevant_cards": ["no-such-card"], "text":
                             "Everything worries me: my children, money, did I lock the car, is my boss annoyed "
                             "because her reply had no smiley. My mind never stops. Is that normal or is "
                             "something wrong with me?"}) + "\n")
    report = check_all(root)
    text = report.text()
    assert not report.ok and "q-leak nearly repeats" in text and "no-such-card" in text
