"""The coTherapist reasoning loop, one traced span per step:

screen → understand → plan → retrieve (risk-aware) → facts → drafts → choose → critique → revise (asked for
with ``revise=True``, kept only when it helps) → final screen. Any step can be switched off, so one agent gives
the ablation configurations (base, prompted, rag, full). Clinical policy is enforced here, not left to the
model: a risk disclosure gets the escalation resources first, whatever the model wrote; imminent risk to the
speaker gets the escalation and a fixed follow-up with no model call at all; a draft that the final screen
flags (a diagnosis, a dose, wording that voices or invites harm) is replaced rather than shown
(``safety.guard_reply``).

Built for a 135M model: it gets a few short numbered facts rather than card text (``grounding``), and a sampled
second draft stands by for when the greedy one loops or crosses the scope line (``drafts``).
"""

from __future__ import annotations

import re
import threading
from dataclasses import asdict, dataclass

from workbench.drafts import critique, revision_verdict
from workbench.trace import Trace, Tracer

__all__ = ["Agent", "AgentConfig", "Retriever", "critique", "draft_prompt", "plan_steps", "replay", "speaker_of",
           "system_prompt"]

_CLINICIAN = re.compile(r"\b(?:my (?:client|patient|supervisee)s?|i(?:'m| am) an? (?:\w+ )?(?:therapist|counsel+or|"
                        r"psychologist|psychiatrist|social worker|nurse|clinician|trainee)|in session|caseload)\b",
                        re.I)
_RISK_SEARCH = "safety planning and risk assessment: {}"  # what a risk query also retrieves


@dataclass
class AgentConfig:
    screen: bool = True       # safety screen before and after generation
    retrieve: bool = True     # ground the draft in knowledge cards
    critique: bool = True     # T-BARS rule checks on the draft
    revise: bool = False      # a revision when the critique finds problems: off, as it was kept for 1 of 80 (#17)
    max_revisions: int = 1
    persona: str = "cotherapist"
    k: int = 3
    max_new_tokens: int = 200
    index: str = "knowledge"
    locale: str | None = None
    grounding: str = "facts"  # facts: the cards' short points, reranked; text: the retrieved card text
    facts: int = 5            # how many facts the model sees
    candidates: int = 2       # drafts to write (the first greedy, the others sampled) and choose among
    no_repeat_ngram: int = 3  # a draft never repeats a 3-gram of its own: greedy drafts looped (#17); 0 = off

    @classmethod
    def preset(cls, name: str) -> AgentConfig:
        """The ablation ladder of the evaluation: base, prompted, rag, cotherapist (full)."""
        plain = dict(critique=False, revise=False, candidates=1, no_repeat_ngram=0)  # one greedy draft, as is
        presets = {
            "base": dict(plain, screen=False, retrieve=False, persona="baseline"),
            "prompted": dict(plain, screen=False, retrieve=False),
            "rag": dict(plain, screen=False),
            "cotherapist": {},
        }
        if name not in presets:
            from workbench.errors import WorkbenchError

            raise WorkbenchError(f"Unknown agent configuration {name!r}.", fix=f"use one of {list(presets)}")
        return cls(**presets[name])


class Retriever:
    """The agent's card search: the k best cards, one chunk each; for a risk disclosure the safety-planning and
    risk cards of its categories come first, whatever the question's other words match. Agents answering several
    queries at once (evaluate) share one index, so a search holds a lock."""

    def __init__(self, index: str = "knowledge", k: int = 3):
        self.name, self.k, self._index, self._lock = index, k, None, threading.Lock()

    def search(self, query: str, risk=None):
        with self._lock:
            return self._search(query, risk)

    def _search(self, query: str, risk=None):
        from workbench import retrieval

        if self._index is None:
            retrieval.ensure_index(self.name)
            self._index = retrieval.Index(self.name)
        best: dict = {}  # the best chunk of each card, so k hits are k different cards
        if risk is not None and risk.risk:
            topics = ", ".join(c.replace("_", " ") for c in risk.categories) or "suicidal ideation"
            for h in self._index.search(_RISK_SEARCH.format(topics), 4):
                best.setdefault(h.card, h)
                if len(best) == max(1, self.k - 1):
                    break
        for h in self._index.search(query, self.k * 4):
            best.setdefault(h.card, h)
        return list(best.values())[:self.k]


def speaker_of(query: str) -> str:
    return "clinician" if _CLINICIAN.search(query) else "client"


def plan_steps(speaker: str, risk) -> list[str]:
    """What the answer should do, in the order the system prompt lists it."""
    steps = ["lead with escalation resources"] if risk is not None and risk.risk else []
    steps += (["ground in evidence-based practice, cite cards", "give concrete next steps",
               "ask a clarifying question"] if speaker == "clinician" else
              ["reflect and validate feelings", "ask one open question", "offer a small step or choice"])
    return steps + ["stay in scope: no diagnosis, no doses"]


def system_prompt(persona: str, steps: list[str], facts=(), hits=()) -> str:
    """The drafts' system message: the persona, then the numbered facts (or, failing those, card text), then
    the plan's steps (not for the baseline persona, which plays the bare model)."""
    from workbench.corpora import load_prompts

    system = load_prompts()[persona].text
    if facts:
        from workbench.grounding import prompt_block

        system += "\n\n" + prompt_block(facts)
    elif hits:
        system += "\n\nKnowledge (cite as [card-id]):\n" + "\n".join(f"[{h.card}] {h.text[:500]}" for h in hits)
    if persona != "baseline":
        system += "\n\nIn this answer: " + "; ".join(steps) + "."
    return system


def draft_prompt(query: str, config: AgentConfig | None = None, *, retriever: Retriever | None = None) -> str:
    """The system message the agent's drafts get for ``query`` (screen, plan, retrieve, facts), with no model
    call. Fine-tuning puts it before each training dialogue, so the adapter learns under the prompt it will see
    (``TrainConfig.system="agent"``)."""
    from workbench.safety import screen

    cfg = config or AgentConfig()
    risk = screen(query, locale=cfg.locale) if cfg.screen else None
    hits, facts = [], []
    if cfg.retrieve:
        hits = (retriever or Retriever(cfg.index, cfg.k)).search(query, risk)
        if cfg.grounding == "facts":
            from workbench.grounding import facts as pick_facts

            facts = pick_facts(query, [h.card for h in hits], cfg.facts)
    return system_prompt(cfg.persona, plan_steps(speaker_of(query), risk), facts, hits)


class Agent:
    def __init__(self, model: str | None = None, backend: str = "torch", config: AgentConfig | None = None, *,
                 gen=None):
        """``gen``: a generator to use instead of loading ``model`` (e.g. a ``models.batching.Batcher``)."""
        from workbench.models import get_generator

        self.gen = gen if gen is not None else get_generator(model, backend)
        self.config = config or AgentConfig()
        self.retriever = Retriever(self.config.index, self.config.k)

    def _llm(self, tracer: Tracer, name: str, messages: list[dict], *, temperature: float = 0.0, seed: int = 0,
             cancel=None) -> str:
        with tracer.span(name, "llm", {"messages": messages}) as s:
            c = self.gen.chat(messages, max_new_tokens=self.config.max_new_tokens, truncate="oldest",
                              temperature=temperature, seed=seed, cancel=cancel,
                              no_repeat_ngram=self.config.no_repeat_ngram)
            s.outputs["text"] = c.text
            s.attributes.update(model=c.model, backend=c.backend, messages=messages, prompt_tokens=c.prompt_tokens,
                                completion_tokens=c.completion_tokens, tokens_per_s=round(c.tokens_per_s, 1),
                                finish_reason=c.finish_reason, temperature=temperature, seed=seed,
                                no_repeat_ngram=self.config.no_repeat_ngram)
            return c.text

    def run(self, query: str, *, progress=None, cancel=None) -> Trace | None:
        """Answer one message; the returned Trace holds every step and the final answer. ``progress(done,
        total, step)`` is called as each step starts; ``cancel`` (a threading.Event) stops the run between
        steps and inside generation, and then None is returned."""
        from workbench.models import check_messages
        from workbench.safety import IMMINENT_FOLLOW_UP, guard_reply, locale_of, screen

        check_messages([{"role": "user", "content": query}])
        cfg, tracer = self.config, Tracer()
        n = max(1, cfg.candidates)
        total = cfg.screen + cfg.retrieve + n + (n > 1) + cfg.max_revisions * (cfg.revise and cfg.critique)
        done = 0

        def step(name: str) -> bool:  # True when the user stopped the run
            nonlocal done
            if progress:
                progress(done, total, name)
            done += 1
            return cancel is not None and cancel.is_set()

        with tracer.span("agent", "chain", {"query": query}) as root:
            root.attributes["config"] = asdict(cfg)
            risk = None
            if cfg.screen:
                if step("screening the message"):
                    return None
                with tracer.span("screen_input", "guardrail", {"text": query}) as s:
                    risk = screen(query, locale=cfg.locale)
                    s.outputs = risk.to_dict()
                    s.attributes["decision"] = f"risk {risk.level} ({risk.subject})" if risk.risk else "no risk"
                    s.attributes["locale"] = root.attributes["locale"] = locale_of(cfg.locale)
            with tracer.span("understand", "chain", {"query": query}) as s:
                speaker = speaker_of(query)
                s.outputs = {"speaker": speaker, "question": "?" in query, "risk": bool(risk and risk.risk)}
            with tracer.span("plan", "chain", s.outputs) as p:
                if risk is not None and risk.fixed_reply:  # imminent, the speaker: no drafting, straight to help
                    p.outputs["steps"] = ["lead with escalation resources", "a fixed supportive follow-up"]
                    p.attributes["decision"] = "imminent risk to the speaker: no model call"
                    answer, out, decision = guard_reply(query, IMMINENT_FOLLOW_UP, risk, locale=cfg.locale)
                    with tracer.span("screen_output", "guardrail", {"text": IMMINENT_FOLLOW_UP}) as g:
                        g.outputs, g.attributes["decision"] = out, decision
                    root.outputs["answer"] = answer
                    if progress:
                        progress(total, total, "done")
                    return tracer.trace
                steps = plan_steps(speaker, risk)
                p.outputs["steps"] = steps
            hits, facts = [], []
            if cfg.retrieve:
                if step("retrieving cards"):
                    return None
                with tracer.span("retrieve", "retriever", {"query": query, "k": cfg.k}) as s:
                    hits = self.retriever.search(query, risk)
                    s.outputs["cards"] = [h.card for h in hits]
                    s.attributes["chunks"] = [{"card": h.card, "heading": h.heading, "score": round(h.score, 4),
                                               "text": h.text} for h in hits]
                    if risk is not None and risk.risk:
                        s.attributes["decision"] = "risk: safety cards first"
                if cfg.grounding == "facts":
                    from workbench.grounding import facts as pick_facts

                    with tracer.span("facts", "retriever", {"query": query, "cards": [h.card for h in hits]}) as s:
                        facts = pick_facts(query, [h.card for h in hits], cfg.facts)
                        s.outputs["facts"] = [f.to_dict() for f in facts]
            system = system_prompt(cfg.persona, steps, facts, hits)
            messages = [{"role": "system", "content": system}, {"role": "user", "content": query}]
            drafts = []
            for i in range(n):
                if step(f"writing draft {i + 1} of {n}"):
                    return None
                drafts.append(self._llm(tracer, "draft", messages, temperature=0.0 if i == 0 else 0.8, seed=i,
                                        cancel=cancel))
            if cancel is not None and cancel.is_set():
                return None
            retrieved = [h.card for h in hits]
            judge = dict(facts=[f.text for f in facts], speaker=speaker, risk=risk if risk is not None else False,
                         retrieved=retrieved)
            draft = drafts[0]
            if len(drafts) > 1:
                from workbench.drafts import choice_reason, choose, rate

                if step("choosing a draft"):
                    return None
                with tracer.span("choose", "evaluator", {"drafts": drafts}) as s:
                    rows = rate(query, drafts, **judge)
                    best = choose(rows)
                    draft = drafts[best]
                    s.outputs = {"chosen": best, "ratings": rows}
                    s.attributes["decision"] = f"draft {best + 1} of {len(drafts)}: {choice_reason(rows, best)}"
            draft = self._revise(tracer, query, draft, messages, judge, step, cancel)
            if draft is None:
                return None
            answer = draft
            if cfg.screen:
                with tracer.span("screen_output", "guardrail", {"text": draft}) as s:
                    answer, s.outputs, s.attributes["decision"] = guard_reply(query, draft, risk, locale=cfg.locale)
            root.outputs["answer"] = answer
        if progress:
            progress(total, total, "done")
        return tracer.trace

    def _revise(self, tracer: Tracer, query: str, draft: str, messages: list[dict], judge: dict, step, cancel):
        """Critique, and revise at most ``max_revisions`` times; a revision is kept only when the same checks
        find fewer problems (the decision is in the trace). None when stopped."""
        cfg = self.config
        checks = dict(speaker=judge["speaker"], risk=bool(getattr(judge["risk"], "risk", judge["risk"])),
                      retrieved=judge["retrieved"])
        for _ in range(cfg.max_revisions if cfg.revise and cfg.critique else 0):
            with tracer.span("critique", "evaluator", {"draft": draft}) as s:
                findings = critique(query, draft, **checks)
                s.outputs["findings"] = findings
                s.attributes["decision"] = "revise" if findings else "accept"
            if not findings:
                break
            if step("revising the draft"):
                return None
            fix = "\n".join(f"- {f['dimension']}: {f['problem']}" for f in findings)
            revised = self._llm(tracer, "revise", messages + [
                {"role": "assistant", "content": draft},
                {"role": "user", "content": f"Rewrite your answer to fix these points:\n{fix}\n"
                                            "Keep what was good. Reply with the new answer only."}], cancel=cancel)
            again = critique(query, revised, **checks)
            better, reason = revision_verdict(findings, again, revised)
            tracer.trace.spans[-1].attributes.update(
                decision="revision kept" if better else "revision rejected, draft kept", reason=reason,
                findings_after=again)
            if better:
                draft = revised
        if cfg.critique and not cfg.revise:
            with tracer.span("critique", "evaluator", {"draft": draft}) as s:
                s.outputs["findings"] = critique(query, draft, **checks)
        return None if cancel is not None and cancel.is_set() else draft


def replay(trace: Trace, user_text: str | None = None, *, progress=None, cancel=None) -> Trace | None:
    """Run the loop that made ``trace`` again, with the same configuration, model and backend, on an edited
    message (default: the same one). The whole loop, not one model call: an edited message must pass the
    crisis screen and the reply guard like any other, and be answered from its own retrieved cards."""
    from workbench.errors import WorkbenchError

    root = trace.span("agent")
    llm = next((s for s in trace.spans if s.kind == "llm" and s.attributes.get("model")), None)
    if root is None or llm is None:
        raise WorkbenchError("This trace has no agent run with a model call, so there is nothing to replay.",
                             fix="pick a trace written by Agent.run")
    config = AgentConfig(**{"no_repeat_ngram": 0, **root.attributes.get("config", {})})  # older traces: none
    agent = Agent(llm.attributes["model"], llm.attributes.get("backend", "torch"), config=config)
    return agent.run(trace.query if user_text is None else user_text, progress=progress, cancel=cancel)
