"""Choosing among drafts: the real coders, the real embedder, drafts written by hand."""

from workbench.drafts import LOOP, choice_reason, choose, rate
from workbench.results import distinct_n

QUERY = "Since my mum died I can't sleep and I keep going over the last weeks in hospital. Is this normal?"
FACTS = ["Grief often disturbs sleep and brings back memories of the last weeks.",
         "Invite the person to talk about the person who died and what they miss."]
GOOD = ("I'm so sorry about your mum. It makes sense that the last weeks in hospital keep coming back, and grief "
        "often disturbs sleep for a while [grief-support]. What do you find yourself missing most about her?")
POOR = ("You have depression. You have depression. Take something to sleep. Take something to sleep. "
        "Take something to sleep.")


def test_the_better_of_two_known_drafts_is_chosen():
    for drafts in ([GOOD, POOR], [POOR, GOOD]):
        rows = rate(QUERY, drafts, facts=FACTS, retrieved=["grief-support"])
        assert drafts[choose(rows)] == GOOD
    good, poor = rate(QUERY, [GOOD, POOR], facts=FACTS, retrieved=["grief-support"])
    assert good["tbars"] > poor["tbars"] and good["grounding"] > poor["grounding"]
    assert good["distinct_2"] > poor["distinct_2"] and any(f["dimension"] == "boundaries" for f in poor["findings"])


def test_a_tie_keeps_the_greedy_draft_and_distinct_n():
    assert choose([{"value": 1.0}, {"value": 1.0}]) == 0
    assert distinct_n("a b a b a b") == 0.4 and distinct_n("one") == 0.0 and distinct_n("a b c") == 1.0


def test_the_greedy_draft_is_kept_unless_it_loops_or_breaks_scope():
    """A sampled draft with a higher value does not replace a greedy draft that passes the checks (sampling bought
    variety, not substance, on the shipped queries); a looping or out-of-scope greedy draft is replaced by one
    that passes, and when none passes the value decides."""
    ok = {"distinct_2": 0.8, "findings": [], "value": 3.0}
    looping = {"distinct_2": LOOP - 0.1, "findings": [], "value": 4.0}
    scope = {"distinct_2": 0.9, "findings": [{"dimension": "boundaries"}], "value": 4.5}
    better = {"distinct_2": 0.95, "findings": [], "value": 3.6}
    assert choose([ok, better]) == 0 and "greedy draft passes" in choice_reason([ok, better], 0)
    assert choose([looping, ok]) == 1 and "repeats itself (distinct-2 0.40 < 0.5)" in choice_reason([looping, ok], 1)
    assert choose([scope, ok, better]) == 2 and "crosses the scope line" in choice_reason([scope, ok, better], 2)
    assert choose([looping, scope]) == 1 and "no draft passes" in choice_reason([looping, scope], 1)
    assert choose([scope, looping]) == 0 and "no draft passes" in choice_reason([scope, looping], 0)
