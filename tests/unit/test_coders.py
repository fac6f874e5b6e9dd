"""The learned behaviour coders on hand-written examples of each code, the coded-data formats, the validate
command on small files of each format, and T-BARS drawing on the codes. All run the shipped weights."""

from __future__ import annotations

import csv
import json
import subprocess
import sys

import pytest

from workbench.behaviours import coded, epitome_levels, mi_codes
from workbench.errors import WorkbenchError

SEEKER = "My dad passed away last month and I can't stop crying at work. Everyone expects me to be fine."
STRONG_ER = ("I'm so sorry about your dad. My heart goes out to you, losing a parent is devastating and "
             "of course the tears come at work too.")
NO_MECHANISM = "Try drinking more water and going to bed earlier."
EXPLORES = "What has it been like for you at work since the funeral? How are you coping day to day?"
INTERPRETS = ("I lost my mum two years ago and I remember feeling like I had to hold it together for "
              "everyone else while I was falling apart inside.")


def _write_epitome(folder, rows):
    """rows: (seeker, response, er, ip, ex, er_rationale) written as the three EPITOME CSVs."""
    folder.mkdir(parents=True, exist_ok=True)
    for n, (stem, col) in enumerate((("emotional-reactions", 2), ("interpretations", 3), ("explorations", 4))):
        with open(folder / f"{stem}.csv", "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["sp_id", "rp_id", "seeker_post", "response_post", "level", "rationales"])
            for i, r in enumerate(rows):
                w.writerow([f"s{i}", f"r{i}", r[0], r[1], r[col], r[5] if n == 0 else ""])
    return folder


EPITOME_ROWS = [
    (SEEKER, STRONG_ER, 2, 0, 0, "My heart goes out to you|"),
    (SEEKER, NO_MECHANISM, 0, 0, 0, ""),
    (SEEKER, EXPLORES, 0, 0, 2, ""),
    (SEEKER, INTERPRETS, 0, 2, 0, ""),
    ("I failed my driving test again.", "That's rough, sorry. Did you book another one?", 1, 0, 1, "That's rough|"),
    ("I can't sleep before exams.", "Exams are stressful. I used to feel the same.", 1, 1, 0, ""),
]


def test_epitome_format_loads_and_merges(tmp_path):
    pairs = coded.load_epitome(_write_epitome(tmp_path / "ep", EPITOME_ROWS))
    assert len(pairs) == len(EPITOME_ROWS)
    assert pairs[0].codes == {"emotional_reactions": 2, "interpretations": 0, "explorations": 0}
    assert pairs[0].rationales["emotional_reactions"] == ["My heart goes out to you"]
    one = coded.load_epitome(tmp_path / "ep" / "explorations.csv")  # a single file: one mechanism
    assert [p.codes for p in one][2] == {"explorations": 2}
    bad = tmp_path / "bad"
    _write_epitome(bad, [(SEEKER, NO_MECHANISM, 3, 0, 0, "")])
    with pytest.raises(WorkbenchError, match="Level '3'") as e:
        coded.load_epitome(bad)
    assert "emotional-reactions.csv:2" in e.value.where


def test_mi_formats_load(tmp_path):
    jl = tmp_path / "mi.jsonl"
    jl.write_text(json.dumps({"context": "I drink to relax.", "text": "Drinking is how you unwind.",
                              "question": "none", "reflection": "simple"}) + "\n")
    assert coded.load_mi_jsonl(jl)[0].codes == {"question": "none", "reflection": "simple"}
    annomi = tmp_path / "mi.csv"
    with open(annomi, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["transcript_id", "utterance_id", "interlocutor", "utterance_text", "question_exists",
                    "question_subtype", "reflection_exists", "reflection_subtype"])
        w.writerow([1, 0, "therapist", "Hi, how have things been?", "True", "open", "False", ""])
        w.writerow([1, 1, "client", "I've cut down to three beers a night.", "False", "", "False", ""])
        w.writerow([1, 2, "therapist", "You've already made a change.", "False", "", "True", "simple"])
        w.writerow([2, 0, "client", "My doctor sent me.", "False", "", "False", ""])
        w.writerow([2, 1, "therapist", "Is that okay with you?", "True", "closed", "False", ""])
    pairs = coded.load_coded(annomi, "mi")
    assert [(p.context, p.codes["question"], p.codes["reflection"]) for p in pairs] == [
        ("", "open", "none"), ("I've cut down to three beers a night.", "none", "simple"),
        ("My doctor sent me.", "closed", "none")]
    jl.write_text(json.dumps({"text": "Hm.", "question": "rhetorical"}) + "\n")
    with pytest.raises(WorkbenchError, match="question code 'rhetorical'"):
        coded.load_mi_jsonl(jl)


def test_epitome_levels_on_hand_written_pairs():
    got = epitome_levels([(SEEKER, STRONG_ER), (SEEKER, NO_MECHANISM), (SEEKER, EXPLORES), (SEEKER, INTERPRETS)])
    er, none, ex, ip = got
    assert er["emotional_reactions"] >= 1 and er["rationales"]["emotional_reactions"]
    assert (none["emotional_reactions"], none["interpretations"], none["explorations"]) == (0, 0, 0)
    assert ex["explorations"] == 2 and ex["emotional_reactions"] == 0
    assert ip["interpretations"] == 2
    for d in got:
        assert all(abs(sum(p) - 1) < 1e-4 for p in d["probabilities"].values())


MI = [  # (client turn, therapist turn, question, reflection)
    ("I keep saying I'll quit smoking and then I don't.", "What would be different if you did quit?", "open",
     "none"),
    ("I had a few drinks on Friday.", "Did you drive home afterwards?", "closed", "none"),
    ("I had a few drinks on Friday.", "You had a few drinks on Friday.", "none", "simple"),
    ("My wife nags me about my weight but honestly I'm too tired after work to cook.",
     "Part of you wants to eat better for her, and part of you is just running on empty by evening.",
     "none", "complex"),
    ("Okay.", "Here is a leaflet with the clinic's opening hours.", "none", "none"),
]


def test_mi_codes_on_hand_written_turns():
    got = mi_codes([(c, t) for c, t, _, _ in MI])
    assert [(g["question"], g["reflection"]) for g in got] == [(q, r) for _, _, q, r in MI]
    assert got[0]["sentence"]["question"] == MI[0][1]
    assert got[4]["sentence"] == {"question": "", "reflection": ""}
    two = mi_codes([("I'm scared of relapsing.", "That fear makes sense after how hard you've worked. "
                     "What helped you the last time the cravings came?")])[0]
    assert two["question"] == "open" and two["sentence"]["question"].startswith("What helped")
    with pytest.raises(WorkbenchError, match="Pair 0 is not"):
        mi_codes(["just a string"])


def test_tbars_empathy_and_exploration_draw_on_the_codes():
    from workbench import rubric

    warm, cold = rubric.score_batch([(SEEKER, STRONG_ER + " " + EXPLORES), (SEEKER, NO_MECHANISM)], risk=False)
    assert rubric.DEFAULT_SCORERS == ("features",)
    w, c = warm["features"], cold["features"]
    assert w.scores["empathy"] > c.scores["empathy"] + 1
    assert w.scores["exploration"] > c.scores["exploration"] + 1.5
    assert any("(p 0." in e or "(p 1." in e for e in w.evidence["empathy"])
    assert any(e.startswith("open question") for e in w.evidence["exploration"])
    lines = w.evidence["exploration"]
    assert len(lines) == len(set(lines))  # once per sentence
    rules = rubric.score(SEEKER, NO_MECHANISM, ("rules",), risk=False)["rules"]
    assert rules.scorer == "rules" and not any("(p " in e for e in rules.evidence["empathy"])


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "workbench.cli", *args], capture_output=True, text=True, timeout=600)


def test_validate_command_on_each_format(tmp_path):
    ep = _write_epitome(tmp_path / "ep", EPITOME_ROWS)
    r = _cli("validate", "--data", str(ep), "--format", "epitome", "--out", str(tmp_path / "ep.json"))
    assert r.returncode == 0, r.stderr
    rep = json.loads((tmp_path / "ep.json").read_text())
    assert set(rep["heads"]) == {"emotional_reactions", "interpretations", "explorations"}
    for st in rep["heads"].values():
        assert {"kappa", "macro_f1", "spearman", "confusion", "calibration"} <= set(st)
        assert sum(map(sum, st["confusion"])) == len(EPITOME_ROWS)
        assert set(st["kappa"]) == {"value", "ci_low", "ci_high"}
    assert rep["tbars_empathy"]["n"] == len(EPITOME_ROWS)
    assert "macro-F1" in r.stdout and "T-BARS empathy" in r.stdout

    mi = tmp_path / "mi.jsonl"
    mi.write_text("".join(json.dumps({"context": c, "text": t, "question": q, "reflection": f}) + "\n"
                          for c, t, q, f in MI))
    r = _cli("validate", "--data", str(mi), "--format", "mi", "--rates-only")
    assert r.returncode == 0, r.stderr
    rep = json.loads(r.stdout)
    assert set(rep["heads"]) == {"question", "reflection"} and "calibration" not in rep["heads"]["question"]
    assert rep["heads"]["question"]["n"] == len(MI)

    ratings = tmp_path / "ratings.csv"
    ratings.write_text("query,response,empathy,exploration\n"
                       f'"{SEEKER}","{STRONG_ER}",5,2\n"{SEEKER}","{NO_MECHANISM}",1,1\n"{SEEKER}","{EXPLORES}",3,5\n')
    r = _cli("validate", "--data", str(ratings), "--format", "ratings", "--json")
    assert r.returncode == 0, r.stderr
    rep = json.loads(r.stdout)
    assert set(rep["scorers"]["features"]) >= {"empathy", "exploration"}
    r = _cli("validate", "--data", str(tmp_path / "nope.csv"), "--format", "mi")
    assert r.returncode != 0 and "does not exist" in r.stderr


def test_fit_stops_when_cancelled():
    import threading

    from workbench.behaviours.coders import fit

    stop = threading.Event()
    stop.set()
    pairs = coded.load_mi_jsonl(coded.mi_files()[0])[:8]
    assert fit(pairs, cancel=stop) is None
