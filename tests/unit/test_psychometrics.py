"""Psychometric administration, scoring, reliability and the interpretability gate."""

import json
import math
import random

import numpy as np
import pytest

from tests.unit.test_models import _by_hand
from workbench import psychometrics as P
from workbench.cli import main
from workbench.inventories import load_inventory
from workbench.population import compare
from workbench.reliability import MAX_SRMR, omega_interval, one_factor

INV = load_inventory("bigfive")


def test_default_variants_are_balanced():
    vs = P.variants(8)
    assert len({v.key for v in vs}) == 8
    assert sum(v.order == "reversed" for v in vs) == 4 and sum(v.labels == "words" for v in vs) == 4


def test_reversed_digits_relabel_the_scale():
    text, options, shown = P.item_prompt(INV.items[0], INV, P.Variant(0, 0, "reversed", "digits"))
    assert options == ["1", "2", "3", "4", "5"] and shown == [5, 4, 3, 2, 1]
    assert f"1 = {INV.scale[-1]}" in text and INV.items[0].text in text


def test_item_probabilities_equal_hand_computation(tiny):
    inv = INV.__class__(**{**INV.__dict__, "items": INV.items[:2]})
    out = P.administer(tiny, inv, n_variants=4)
    assert len(out) == 8
    r = out[3]  # second item under the second variant (forward, words)
    v = P.variants(4)[1]
    text, options, shown = P.item_prompt(inv.items[1], inv, v)
    logp = _by_hand(tiny, [{"role": "user", "content": text}], options)
    z = sum(math.exp(x) for x in logp)
    expected = [0.0] * 5
    for x, val in zip(logp, shown, strict=True):
        expected[val - 1] = math.exp(x) / z
    assert r.variant == v.key and r.probs == pytest.approx(expected, abs=1e-5)
    assert r.expected == pytest.approx(sum(p * (i + 1) for i, p in enumerate(expected)))
    assert r.valid_mass == pytest.approx(z, rel=1e-6) and 0 <= r.entropy <= 1


def _resp(item, key, variant, value, order="forward"):
    probs = [0.0] * 5
    probs[value - 1] = 1.0
    return P.Response(item, "t", key, variant, order, probs, float(value), value, 0.0, 1.0)


def test_reverse_keys_are_applied():
    inv = INV.__class__("x", "x", "", INV.scale, {"t": "t"}, [])
    rs = [_resp("a", 1, "v1", 4), _resp("b", -1, "v1", 2), _resp("a", 1, "v2", 5), _resp("b", -1, "v2", 1)]
    t = P.score(rs, inv)["t"]
    assert t.mean == pytest.approx((4 + 4 + 5 + 5) / 4)


def test_alpha_matches_the_textbook_formula():
    m = np.array([[3, 4, 3, 5], [2, 2, 3, 2], [4, 5, 4, 4], [1, 2, 2, 1], [3, 3, 4, 3], [5, 4, 5, 5]], float)
    k = m.shape[1]
    hand = k / (k - 1) * (1 - m.var(axis=0, ddof=1).sum() / m.sum(axis=1).var(ddof=1))
    assert P.cronbach_alpha(m) == pytest.approx(hand, abs=1e-9)


def test_omega_recovers_a_known_one_factor_structure():
    rng = np.random.default_rng(0)
    loadings = np.array([0.8, 0.7, 0.6, 0.7, 0.5, 0.6])
    f = rng.normal(size=(4000, 1))
    x = f * loadings + rng.normal(size=(4000, 6)) * np.sqrt(1 - loadings**2)
    truth = loadings.sum() ** 2 / (loadings.sum() ** 2 + (1 - loadings**2).sum())
    omega, srmr = one_factor(x)
    assert omega == pytest.approx(truth, abs=0.02) and srmr < MAX_SRMR
    g = rng.normal(size=(4000, 1))  # a second, independent factor behind half the items: one factor misfits
    two = np.hstack([x[:, :3], g * 0.8 + rng.normal(size=(4000, 3)) * 0.6])
    out = omega_interval(two)
    assert out["srmr"] > MAX_SRMR and math.isnan(out["omega"]) and out["note"].startswith("omega not reported")


class ScriptedRespondent:
    """A deterministic respondent with a known answering style, to see what the gate makes of it."""

    name, backend = "scripted", "test"

    def __init__(self, style, inv, seed=0):
        self.style, self.inv, self.rng = style, inv, random.Random(seed)
        self.key_of = {i.text: i.key for i in inv.items}
        self.calls = 0

    def score_options(self, messages, options):
        text = messages[-1]["content"]
        shown = [self._value(line) for line in text.splitlines() if self._value(line)]
        if self.style == "always-3":
            pick = shown.index(3)
        elif self.style == "first-option":
            pick = 0
        else:  # "trait-holder": a trait level near 4 that each prompt variant nudges, answered per keying
            statement = text.split('Statement: "')[1].split('"')[0]
            level = (4, 3, 5, 4, 3, 5, 4, 4)[self.calls // len(self.inv.items)]
            level = min(5, max(1, level + self.rng.choice([-1] + [0] * 8 + [1])))
            pick = shown.index(level if self.key_of[statement] == 1 else 6 - level)
        self.calls += 1
        return [0.0 if i == pick else -6.0 for i in range(len(options))]

    def score_many(self, conversations, options):
        return [self.score_options(c, options) for c in conversations]

    def _value(self, line):
        for v, label in enumerate(self.inv.scale, 1):
            if line.endswith(label) and (line.startswith("- ") or " = " in line):
                return v
        return None


@pytest.mark.parametrize("style, interpretable", [("always-3", False), ("first-option", False),
                                                  ("trait-holder", True)])
def test_gate(style, interpretable):
    traits = P.score(P.administer(ScriptedRespondent(style, INV), INV, n_variants=8), INV)
    assert all(t.interpretable is interpretable for t in traits.values()), {k: t.reason for k, t in traits.items()}
    if style == "first-option":
        assert all("position bias" in t.reason for t in traits.values())
    if style == "trait-holder":
        assert all(3.6 < t.mean < 4.4 and t.ci_low <= t.mean <= t.ci_high for t in traits.values())


def test_cli_profile_on_an_ipip_csv(tmp_path, capsys):
    csv = tmp_path / "mini.csv"
    csv.write_text("item,key,trait\nI keep my desk tidy.,+,order\nI leave things lying around.,-,order\n"
                   "I finish what I start.,+,order\nI chat with strangers.,+,social\nI avoid parties.,-,social\n"
                   "I like crowds.,+,social\n")
    out = tmp_path / "prof"
    assert main(["profile", "--model", "tiny-llama", "--inventory", str(csv), "--variants", "4",
                 "--out", str(out)]) == 0
    data = json.loads((out / "profile.json").read_text())
    for t in data["traits"].values():
        assert {"mean", "ci_low", "ci_high", "alpha", "omega", "order_agreement", "acquiescence", "interpretable",
                "reason"} <= set(t)
        assert t["interpretable"] is False or t["alpha"] >= 0.7
    assert len((out / "responses.jsonl").read_text().splitlines()) == 6 * 4


def _trait_holder_profile(seed):
    r = P.administer(ScriptedRespondent("trait-holder", INV, seed=seed), INV, n_variants=8)
    return P.Profile("scripted", "test", "", "bigfive", INV.scale, 8, P.score(r, INV), r)


def test_saved_profile_loads_back(tmp_path):
    p = _trait_holder_profile(1)
    p.traits["extraversion"].omega = float("nan")  # undefined statistics are null on disk
    P.save_profile(p, tmp_path / "prof")
    back = P.load_profile(tmp_path / "prof" / "profile.json")
    assert back.traits.keys() == p.traits.keys()
    assert back.traits["openness"] == p.traits["openness"]
    assert math.isnan(back.traits["extraversion"].omega)
    assert back.responses == p.responses
    assert compare(back, p)["openness"]["diff"] == 0.0


def test_compare_is_paired_over_variants():
    a = _trait_holder_profile(0)
    b = _trait_holder_profile(0)
    for r in b.responses:  # the same respondent, one scale point more agreeable on every item
        if r.trait == "agreeableness":
            r.expected += 1 if r.key == 1 else -1
    d = compare(a, b)
    assert d["agreeableness"]["diff"] == pytest.approx(1.0) and d["agreeableness"]["ci_low"] == pytest.approx(1.0)
    assert d["openness"]["diff"] == 0 and d["openness"]["ci_low"] == d["openness"]["ci_high"] == 0


def test_against_reference_directions():
    from workbench.corpora import load_reference_profiles

    ref = next(r for r in load_reference_profiles() if r["name"] == "therapist-consistent")
    verdicts = P.against_reference(_trait_holder_profile(1), ref)  # every trait near 4, interpretable
    assert verdicts["agreeableness"]["verdict"] == "consistent"  # expected high, observed high
    assert verdicts["neuroticism"]["verdict"] == "inconsistent"  # expected low, observed high
    assert verdicts["agreeableness"]["source"].startswith("Rodriguez")


def test_one_variant_says_why_reliability_is_undefined():
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no numpy degrees-of-freedom warnings either
        traits = P.score(P.administer(ScriptedRespondent("trait-holder", INV), INV, n_variants=1), INV)
    assert all(t.alpha != t.alpha and "1 respondents" in t.reason and not t.interpretable for t in traits.values())
