"""Choosing among drafts: the real coders, the real embedder, drafts written by hand."""

from workbench.drafts import choose, rate
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
