"""Respondent populations, two forms and the therapist shift: the method check on a simulated
population with known trait levels, the MTMM table against a hand-made example, PsychoBench files
with a named questionnaire, and the comparison on the tiny model."""

import json
import math
import random
from collections import Counter

import numpy as np
import pandas as pd
import pytest

from workbench import psychometrics as P
from workbench.cli import main
from workbench.inventories import Persona, load_inventory
from workbench.population import compare_configs, persona_recovery
from workbench.reliability import mtmm

FORM_A, FORM_B = load_inventory("bigfive"), load_inventory("bigfive_short")


class SimulatedPopulation:
    """A scripted respondent with a known latent level per persona and trait: each answer's expected value
    is exactly 3 + key x level + noise (probability split between the two nearest options), so classical
    test theory says what alpha must be: k var(level) / (k var(level) + var(noise))."""

    name, backend = "simulated", "test"

    def __init__(self, personas, invs, sd_level=0.5, sd_noise=0.5, seed=0, follows="persona"):
        rng = np.random.default_rng(seed)
        traits = sorted({t for inv in invs for t in inv.traits})
        self.level = {(p.id, t): float(rng.normal(0, sd_level)) for p in personas for t in traits}
        self.follows = follows  # "format": the level comes from how the question is put, not from the persona
        self.item = {i.text: i for inv in invs for i in inv.items}
        self.scale, self.sd_noise = invs[0].scale, sd_noise

    def score_many(self, conversations, options):
        return [self._answer(c, options) for c in conversations]

    def _answer(self, messages, options):
        persona = messages[0]["content"].split("Respondent ")[1].split(".")[0]
        text = messages[-1]["content"]
        item = self.item[text.split('Statement: "')[1].split('"')[0]]
        noise = random.Random(f"{persona}|{text}").gauss(0, self.sd_noise)  # a new draw per respondent and item
        if self.follows == "format":
            persona = random.Random(text.split("Statement:")[0]).choice(sorted({p for p, _ in self.level}))
        x = min(5.0, max(1.0, 3 + item.key * self.level[(persona, item.trait)] + noise))
        lo = math.floor(x)
        probs = {lo: 1 - (x - lo), min(5, lo + 1): x - lo} if lo < 5 else {5: 1.0}
        shown = [next(v for v, lab in enumerate(self.scale, 1) if line.endswith(lab))
                 for line in text.splitlines() if line.startswith("- ") or " = " in line]
        values = shown if options[0] not in self.scale else [self.scale.index(o) + 1 for o in options]
        return [math.log(max(probs.get(v, 0.0), 1e-12)) for v in values]


def _population(n=60):
    return [Persona(f"R{i:02d}", f"Respondent R{i:02d}.") for i in range(n)]


@pytest.fixture(scope="module")
def simulated():
    personas = _population()
    sim = SimulatedPopulation(personas, [FORM_A, FORM_B])
    # levels by tercile of the latent score, as a persona writer would have intended them
    for t in FORM_A.traits:
        cut = np.quantile([sim.level[(p.id, t)] for p in personas], [1 / 3, 2 / 3])
        for p in personas:
            v = sim.level[(p.id, t)]
            p.levels[t] = "low" if v < cut[0] else "average" if v < cut[1] else "high"
    profiles = {inv.name: P.profile(sim, inv, personas=personas, n_variants=4) for inv in (FORM_A, FORM_B)}
    return sim, personas, profiles


def test_simulated_population_is_recovered_and_alpha_matches_theory(simulated):
    sim, personas, profiles = simulated
    p = profiles["bigfive"]
    per_persona = P.keyed_frame(p.responses, 5).pivot_table(index="persona", columns="trait", values="keyed")
    for trait, s in p.traits.items():
        true = [sim.level[(q.id, trait)] for q in personas]
        r = np.corrcoef(true, per_persona.loc[[q.id for q in personas], trait])[0, 1]
        assert r >= 0.9, (trait, r)
        # a respondent is a persona under a variant: var(level) = 0.25, noise var 0.25, 12 items per trait
        assert s.alpha == pytest.approx(12 * 0.25 / (12 * 0.25 + 0.25), abs=0.04), (trait, s.alpha)
        assert s.alpha_low < s.alpha < s.alpha_high and s.n_respondents == 60 * 4
        assert s.omega_low <= s.omega <= s.omega_high and s.srmr < 0.08
        assert s.interpretable and s.persona_share > 0.9, s.reason
    assert all(rho > 0.8 for rho in persona_recovery(p, personas).values())


def test_a_population_that_follows_the_format_is_not_interpretable():
    personas = _population(12)
    sim = SimulatedPopulation(personas, [FORM_A], follows="format")
    traits = P.profile(sim, FORM_A, personas=personas, n_variants=8).traits
    for s in traits.values():
        assert s.persona_share < 0.5 and not s.interpretable and "personas explain" in s.reason, s.reason


def test_simulated_two_forms_give_a_valid_mtmm(simulated):
    _, _, profiles = simulated
    scores = {f: P.trait_scores(q.responses, 5) for f, q in profiles.items()}
    table = mtmm(scores)
    assert table["n"] == 240 and len(table["labels"]) == 10
    assert all(table["passes"].values()) and min(table["convergent"].values()) > 0.8
    assert max(table["discriminant"].values()) < 0.3  # the simulated traits are independent


def test_mtmm_against_a_hand_made_example():
    a = pd.DataFrame({"x": [1, 2, 3, 4, 5, 6], "y": [3, 1, 6, 2, 5, 4]}, index=list("abcdef"))
    b = pd.DataFrame({"x": [1, 3, 2, 4, 6, 5], "y": [5, 6, 2, 3, 1, 4]}, index=list("abcdef"))
    table = mtmm({"A": a, "B": b}, {"A": {"x": 0.8, "y": 0.7}, "B": {"x": 0.9, "y": 0.6}})
    r = lambda u, v: float(np.corrcoef(u, v)[0, 1])  # noqa: E731
    assert table["labels"] == ["A:x", "A:y", "B:x", "B:y"] and table["alpha"] == [0.8, 0.7, 0.9, 0.6]
    assert table["matrix"][0][2] == pytest.approx(r(a.x, b.x))
    assert table["convergent"]["x"] == pytest.approx(r(a.x, b.x))
    assert table["convergent"]["y"] == pytest.approx(r(a.y, b.y))
    others_x = [abs(r(a.x, a.y)), abs(r(a.x, b.y)), abs(r(b.x, a.y)), abs(r(b.x, b.y))]
    assert table["discriminant"]["x"] == pytest.approx(max(others_x))
    # x: its forms agree (0.89) beyond any heterotrait r (max 0.54); y: its forms disagree (-0.77)
    assert table["passes"] == {"x": True, "y": False}


def test_personas_load_checked_with_the_line_at_fault(tmp_path):
    from workbench.corpus_check import check_all
    from workbench.errors import CorpusError
    from workbench.inventories import load_personas

    shipped = load_personas()
    assert len(shipped) == 60 and len({p.id for p in shipped}) == 60
    for trait in FORM_A.traits:  # 20 low, 20 average, 20 high per trait, as the README says
        assert sorted(Counter(p.levels[trait] for p in shipped).values()) == [20, 20, 20]
    bad = tmp_path / "personas.yaml"
    bad.write_text("personas:\n  - id: X1\n    text: A farmer.\n    levels: {openness: very}\n")
    with pytest.raises(CorpusError) as e:
        load_personas(bad)
    assert e.value.where.endswith(":2") and "low, average or high" in e.value.fix
    assert check_all().counts["personas"] == 60
    for n in (-3, 61):  # a count outside the population is refused, not silently cut
        assert main(["profile", "--model", "tiny-llama", "--personas", str(n)]) != 0


QUESTIONNAIRES = [
    {"name": "MINI", "questions": {"1": "I start conversations at parties.", "2": "I keep to myself in groups.",
                                   "3": "I like meeting new people.", "4": "I keep my room tidy.",
                                   "5": "I forget where I put things.", "6": "I make lists before shopping.",
                                   "7": "This line is filler and is not scored."},
     "inner_setting": "You can only reply numbers from 1 to 5.",
     "prompt": "Reply with numbers from 1 to 5. 1 denotes strongly disagree, 2 denotes disagree, 3 denotes unsure, "
               "4 denotes agree, 5 denotes strongly agree. Here are the statements:",
     "scale": 6, "reverse": [2, 5],
     "categories": [{"cat_name": "Sociable", "cat_questions": [1, 2, 3],
                     "crowd": [{"crowd_name": "Adults", "crowd_sample_mean": 3.4, "crowd_sample_sd": 0.8,
                                "crowd_sample_num": 500}]},
                    {"cat_name": "Orderly", "cat_questions": [4, 5, 6],
                     "crowd": [{"crowd_sample_mean": 3.1, "crowd_sample_sd": 0.7, "crowd_sample_num": 300}]}]},
    {"name": "SUMMED", "questions": {"1": "I feel rested.", "2": "I wake up tired.", "3": "I sleep through."},
     "inner_setting": "You can only reply numbers from 0 to 4.",
     "prompt": 'Answer from 0 to 4, where 0 denotes "not at all" and 4 denotes "completely".',
     "scale": 5, "compute_mode": "SUM", "reverse": [2],
     "categories": [{"cat_name": "Rest", "cat_questions": [1, 2, 3],
                     "crowd": [{"crowd_name": "Students", "crowd_sample_mean": 7.5, "crowd_sample_sd": 2.4,
                                "crowd_sample_num": 80}]}]},
]


@pytest.fixture
def bench_file(tmp_path):
    path = tmp_path / "questionnaires.json"
    path.write_text(json.dumps(QUESTIONNAIRES))
    return path


def test_psychobench_file_needs_a_named_questionnaire(bench_file):
    from workbench.errors import CorpusError

    with pytest.raises(CorpusError) as e:
        load_inventory(bench_file)
    assert "MINI, SUMMED" in e.value.fix and f"{bench_file}:MINI" in e.value.fix
    with pytest.raises(CorpusError, match="none is named 'BFI'"):
        load_inventory(f"{bench_file}:BFI")


def test_psychobench_options_keep_their_meaning_and_norms(bench_file):
    mini = load_inventory(f"{bench_file}:MINI")
    assert [i.id for i in mini.items] == ["1", "2", "3", "4", "5", "6"]  # the filler item is not scored
    assert mini.scale[0] == "strongly disagree" and mini.scale[-1] == "strongly agree"
    text, options, shown = P.item_prompt(mini.items[0], mini, P.Variant(0, 0, "reversed", "digits"))
    assert options == ["5", "4", "3", "2", "1"] and shown == [5, 4, 3, 2, 1]
    assert "5 = strongly agree" in text and "1 = strongly disagree" in text and "1 = 5" not in text
    assert mini.norms["Sociable"] == [{"name": "Adults", "mean": 3.4, "sd": 0.8, "n": 500}]
    summed = load_inventory(f"{bench_file}:SUMMED")
    assert summed.first == 0 and summed.scale == ["not at all", "1", "2", "3", "completely"]
    _, options, _ = P.item_prompt(summed.items[0], summed, P.Variant(0, 0, "reversed", "words"))
    assert options == ["4", "3", "2", "1", "0"]
    norm = summed.norms["Rest"][0]  # a sum over 3 items on 0..4, moved to an item mean on 1..5
    assert norm["mean"] == pytest.approx(7.5 / 3 + 1) and norm["sd"] == pytest.approx(0.8)


def test_cli_profiles_a_named_psychobench_questionnaire(bench_file, tmp_path):
    out = tmp_path / "prof"
    assert main(["profile", "--model", "tiny-llama", "--inventory", f"{bench_file}:MINI", "--variants", "4",
                 "--out", str(out)]) == 0
    data = json.loads((out / "profile.json").read_text())
    assert data["inventory"] == "MINI" and set(data["traits"]) == {"Sociable", "Orderly"}
    assert len((out / "responses.jsonl").read_text().splitlines()) == 6 * 4


def test_compare_writes_the_comparison_and_resumes(tmp_path):
    personas = _population(3)  # tiny-llama answers at random; the structure and the resume are under test
    full = compare_configs(("base", "prompted"), model="tiny-llama", personas=personas, n_variants=1,
                           out_dir=tmp_path / "full")
    data = json.loads((tmp_path / "full" / "comparison.json").read_text())
    assert set(data["configs"]) == {"base", "prompted"} and data["shift_of"] == ["prompted", "base"]
    for c in data["configs"].values():
        for t in c["traits"].values():
            assert {"mean", "ci_low", "ci_high", "alpha", "omega", "interpretable", "reason"} <= set(t)
    assert set(data["shift"]) == set(FORM_A.traits) and data["mtmm"]["base"]["n"] == 3
    assert {"mean", "ci_low", "ci_high"} <= set(data["shift"]["openness"])

    import threading

    stop, seen = threading.Event(), []

    def progress(done, total):
        seen.append(done)
        if done >= 150:  # part-way through the second persona of the first form
            stop.set()

    assert compare_configs(("base", "prompted"), model="tiny-llama", personas=personas, n_variants=1,
                           out_dir=tmp_path / "resumed", progress=progress, cancel=stop) is None
    partial = (tmp_path / "resumed" / "base" / "bigfive" / "partial.jsonl").read_text().splitlines()
    assert len(partial) >= 60
    again = compare_configs(("base", "prompted"), model="tiny-llama", personas=personas, n_variants=1,
                            out_dir=tmp_path / "resumed")
    for trait, d in full["shift"].items():
        assert again["shift"][trait]["mean"] == pytest.approx(d["mean"], abs=1e-6)
    assert not (tmp_path / "resumed" / "base" / "bigfive" / "partial.jsonl").exists()
