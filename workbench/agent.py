"""The coTherapist reasoning loop, one traced span per step:

screen → understand → plan → retrieve → draft (with citations) → critique against T-BARS
(rule checks) → revise (bounded) → final screen. Any step can be switched off, so one agent gives
the ablation configurations (base, +RAG, full). Clinical policy is enforced here, not left to the
model: a risk disclosure gets the escalation resources first, whatever the model wrote, and a draft
that the final screen flags (a diagnosis, a dose, wording that voices or invites harm) is replaced
rather than shown (``safety.guard_reply``).
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass

# The behaviour patterns are the T-BARS feature scorer's (workbench.behaviours), so critique and scorer agree.
from workbench.behaviours import CITATION as _CITATION
from workbench.behaviours import FEELING as _FEELING
from workbench.behaviours import OPEN_QUESTION as _OPEN_Q
from workbench.behaviours import scope_findings
from workbench.trace import Trace, Tracer

__all__ = ["Agent", "AgentConfig", "critique", "replay"]

_CLINICIAN = re.compile(r"\b(?:my (?:client|patient|supervisee)s?|i(?:'m| am) an? (?:\w+ )?(?:therapist|counsel+or|"
                        r"psychologist|psychiatrist|social worker|nurse|clinician|trainee)|in session|caseload)\b",
                        re.I)


@dataclass
class AgentConfig:
    screen: bool = True       # safety screen before and after generation
    retrieve: bool = True     # ground the draft in knowledge cards
    critique: bool = True     # T-BARS rule checks on the draft
    revise: bool = True       # one bounded revision when the critique finds problems
    max_revisions: int = 1
    persona: str = "cotherapist"
    k: int = 3
    max_new_tokens: int = 200
    index: str = "knowledge"
    locale: str | None = None

    @classmethod
    def preset(cls, name: str) -> AgentConfig:
        """The ablation ladder of the evaluation: base, prompted, rag, cotherapist (full)."""
        presets = {
            "base": dict(screen=False, retrieve=False, critique=False, revise=False, persona="baseline"),
            "prompted": dict(screen=False, retrieve=False, critique=False, revise=False),
            "rag": dict(screen=False, critique=False, revise=False),
            "cotherapist": {},
        }
        if name not in presets:
            from workbench.errors import WorkbenchError

            raise WorkbenchError(f"Unknown agent configuration {name!r}.", fix=f"use one of {list(presets)}")
        return cls(**presets[name])


def critique(query: str, draft: str, *, speaker: str, risk: bool, retrieved: list[str]) -> list[dict]:
    """Rule checks of a draft against T-BARS dimensions; each finding names its dimension and evidence."""
    found = []

    def issue(dim, problem, evidence=""):
        found.append({"dimension": dim, "problem": problem, "evidence": evidence})

    if not draft.strip():
        issue("structure", "the draft is empty")
        return found
    found += scope_findings(query, draft, risk)  # the rubric's scope check: declining sentences never count
    if speaker == "client" and not _FEELING.search(draft):
        issue("empathy", "does not acknowledge what the person feels")
    if not _OPEN_Q.search(draft):
        issue("exploration", "asks no open question")
    cited = set(_CITATION.findall(draft))
    if retrieved and not cited & set(retrieved):
        issue("grounding", "cites none of the retrieved cards", ", ".join(retrieved))
    if cited - set(retrieved):
        issue("grounding", "cites cards that were not retrieved", ", ".join(sorted(cited - set(retrieved))))
    if len(draft.split()) > 260:
        issue("structure", "too long to act on", f"{len(draft.split())} words")
    return found


class Agent:
    def __init__(self, model: str | None = None, backend: str = "torch", config: AgentConfig | None = None):
        from workbench.models import get_generator

        self.gen = get_generator(model, backend)
        self.config = config or AgentConfig()
        self._index = None

    def _search(self, query: str):
        from workbench import retrieval

        if self._index is None:
            retrieval.ensure_index(self.config.index)
            self._index = retrieval.Index(self.config.index)
        best: dict = {}  # the best chunk of each card, so k hits are k different cards
        for h in self._index.search(query, self.config.k * 4):
            best.setdefault(h.card, h)
        return list(best.values())[:self.config.k]

    def _llm(self, tracer: Tracer, name: str, messages: list[dict]) -> str:
        with tracer.span(name, "llm", {"messages": messages}) as s:
            c = self.gen.chat(messages, max_new_tokens=self.config.max_new_tokens, truncate="oldest")
            s.outputs["text"] = c.text
            s.attributes.update(model=c.model, backend=c.backend, messages=messages, prompt_tokens=c.prompt_tokens,
                                completion_tokens=c.completion_tokens, tokens_per_s=round(c.tokens_per_s, 1),
                                finish_reason=c.finish_reason)
            return c.text

    def run(self, query: str) -> Trace:
        """Answer one message; the returned Trace holds every step and the final answer."""
        from workbench.corpora import load_prompts
        from workbench.models import check_messages
        from workbench.safety import guard_reply, screen

        check_messages([{"role": "user", "content": query}])
        cfg, tracer = self.config, Tracer()
        with tracer.span("agent", "chain", {"query": query}) as root:
            root.attributes["config"] = asdict(cfg)
            risk = None
            if cfg.screen:
                with tracer.span("screen_input", "guardrail", {"text": query}) as s:
                    risk = screen(query, locale=cfg.locale)
                    s.outputs = risk.to_dict()
                    s.attributes["decision"] = f"risk {risk.level} ({risk.subject})" if risk.risk else "no risk"
            with tracer.span("understand", "chain", {"query": query}) as s:
                speaker = "clinician" if _CLINICIAN.search(query) else "client"
                s.outputs = {"speaker": speaker, "question": "?" in query, "risk": bool(risk and risk.risk)}
            with tracer.span("plan", "chain", s.outputs) as p:
                steps = (["lead with escalation resources"] if risk and risk.risk else [])
                steps += (["ground in evidence-based practice, cite cards", "give concrete next steps",
                           "ask a clarifying question"] if speaker == "clinician" else
                          ["reflect and validate feelings", "ask one open question", "offer a small step or choice"])
                steps += ["stay in scope: no diagnosis, no doses"]
                p.outputs["steps"] = steps
            hits = []
            if cfg.retrieve:
                with tracer.span("retrieve", "retriever", {"query": query, "k": cfg.k}) as s:
                    hits = self._search(query)
                    chunks = [{"card": h.card, "heading": h.heading, "score": round(h.score, 4), "text": h.text}
                              for h in hits]
                    s.outputs["cards"] = [h.card for h in hits]
                    s.attributes["chunks"] = chunks
            system = load_prompts()[cfg.persona].text
            if hits:
                system += "\n\nKnowledge (cite as [card-id]):\n" + "\n".join(
                    f"[{h.card}] {h.text[:500]}" for h in hits)
            if cfg.persona != "baseline":
                system += "\n\nIn this answer: " + "; ".join(steps) + "."
            messages = [{"role": "system", "content": system}, {"role": "user", "content": query}]
            draft = self._llm(tracer, "draft", messages)
            retrieved = [h.card for h in hits]
            for _ in range(cfg.max_revisions if cfg.revise else 0):
                if not cfg.critique:
                    break
                with tracer.span("critique", "evaluator", {"draft": draft}) as s:
                    findings = critique(query, draft, speaker=speaker, risk=bool(risk and risk.risk),
                                        retrieved=retrieved)
                    s.outputs["findings"] = findings
                    s.attributes["decision"] = "revise" if findings else "accept"
                if not findings:
                    break
                fix = "\n".join(f"- {f['dimension']}: {f['problem']}" for f in findings)
                revised = self._llm(tracer, "revise", messages + [
                    {"role": "assistant", "content": draft},
                    {"role": "user", "content": f"Rewrite your answer to fix these points:\n{fix}\n"
                                                "Keep what was good. Reply with the new answer only."}])
                # A small model may echo the request or make things worse: keep the revision only if the
                # same checks find fewer problems and it does not repeat the instruction.
                again = critique(query, revised, speaker=speaker, risk=bool(risk and risk.risk), retrieved=retrieved)
                better = len(again) < len(findings) and "fix these points" not in revised.lower()
                tracer.trace.spans[-1].attributes.update(
                    decision="revision kept" if better else "revision rejected, draft kept",
                    findings_after=again)
                if better:
                    draft = revised
            if cfg.critique and not cfg.revise:
                with tracer.span("critique", "evaluator", {"draft": draft}) as s:
                    s.outputs["findings"] = critique(query, draft, speaker=speaker, risk=bool(risk and risk.risk),
                                                     retrieved=retrieved)
            answer = draft
            if cfg.screen:
                with tracer.span("screen_output", "guardrail", {"text": draft}) as s:
                    answer, s.outputs, s.attributes["decision"] = guard_reply(query, draft, risk, locale=cfg.locale)
            root.outputs["answer"] = answer
        return tracer.trace


def replay(trace: Trace, user_text: str | None = None) -> Trace:
    """Run the loop that made ``trace`` again, with the same configuration, model and backend, on an edited
    message (default: the same one). The whole loop, not one model call: an edited message must pass the
    crisis screen and the reply guard like any other, and be answered from its own retrieved cards."""
    from workbench.errors import WorkbenchError

    root = trace.span("agent")
    llm = next((s for s in trace.spans if s.kind == "llm" and s.attributes.get("model")), None)
    if root is None or llm is None:
        raise WorkbenchError("This trace has no agent run with a model call, so there is nothing to replay.",
                             fix="pick a trace written by Agent.run")
    config = AgentConfig(**root.attributes.get("config", {}))
    agent = Agent(llm.attributes["model"], llm.attributes.get("backend", "torch"), config=config)
    return agent.run(trace.query if user_text is None else user_text)
