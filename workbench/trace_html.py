"""One trace as HTML a person reads: the span tree with readable values, and what the revision step decided.

Values are rendered, not dumped: chat messages as role-labelled blocks with their real line breaks, text
as text, dicts as labelled rows, lists as lists, everything HTML-escaped. JSON would show a prompt as one
line full of ``\\n`` escapes. Used by the trace inspector and the demo report (through ``report``).
"""

from __future__ import annotations

import html

__all__ = ["KIND_COLOR", "diff_html", "messages_html", "revision_html", "revisions", "span_tree_html",
           "value_html"]

KIND_COLOR = {"chain": "#486581", "llm": "#2680c2", "retriever": "#27ab83", "guardrail": "#cf1124",
              "evaluator": "#cb6e17"}
_ROLE_COLOR = {"system": "#7b8794", "user": "#486581", "assistant": "#27ab83", "tool": "#cb6e17"}
_LONG_INPUT = 600  # characters: longer inputs (a whole prompt) start collapsed, so an open tree stays scannable
_MAX_ITEMS = 50


def _esc(x) -> str:
    return html.escape(str(x))


def _text(s: str, limit: int) -> str:
    more = f"<span style='color:#7b8794'>… ({len(s) - limit} more characters)</span>" if len(s) > limit else ""
    return f"<div style='white-space:pre-wrap'>{_esc(s[:limit])}{more}</div>"


def _scalar(v, key: str = "") -> str:
    """Numbers, durations and missing values as every table shows them (``formatting.value``, by key)."""
    from workbench.formatting import value

    return value(v, key)


def _is_inline(v) -> bool:
    return v is None or isinstance(v, (bool, int, float)) or (isinstance(v, str) and len(v) <= 80 and "\n" not in v)


def _is_messages(v) -> bool:
    return (isinstance(v, list) and bool(v)
            and all(isinstance(m, dict) and "role" in m and "content" in m for m in v))


def messages_html(messages: list[dict], limit: int = 4000) -> str:
    """Chat messages as blocks labelled by role, each content with its own line breaks."""
    out = []
    for m in messages:
        role = str(m["role"])
        color = _ROLE_COLOR.get(role, "#333")
        css = "".join(c for c in role if c.isalnum())
        out.append(f"<div class='wb-msg wb-msg-{css}' style='border-left:3px solid {color};padding:2px 8px;"
                   f"margin:4px 0'><div style='font-size:.75em;font-weight:600;text-transform:uppercase;"
                   f"color:{color}'>{_esc(role)}</div>{_text(str(m['content']), limit)}</div>")
    return "".join(out)


def value_html(v, limit: int = 4000) -> str:
    """Any JSON-like value as readable, escaped HTML (see the module docstring)."""
    if _is_messages(v):
        return messages_html(v, limit)
    if isinstance(v, str):
        return _text(v, limit)
    if not isinstance(v, (dict, list, tuple)):
        return _esc(_scalar(v))
    if not v:
        return "<i>none</i>"
    if isinstance(v, dict):
        if all(_is_inline(x) for x in v.values()):
            return " · ".join(f"<b>{_esc(k)}</b> {_esc(_scalar(x, str(k)))}" for k, x in v.items() if x != "")
        return "".join(f"<div><b>{_esc(k)}</b> {_esc(_scalar(x, str(k)))}</div>" if _is_inline(x) else
                       f"<div><b>{_esc(k)}</b><div style='margin-left:12px'>{value_html(x, limit)}</div></div>"
                       for k, x in v.items())
    items = list(v)
    if all(_is_inline(x) for x in items):
        return _esc(", ".join(_scalar(x) for x in items))
    more = f"<li style='color:#7b8794'>… {len(items) - _MAX_ITEMS} more</li>" if len(items) > _MAX_ITEMS else ""
    return ("<ol style='margin:2px 0;padding-left:22px'>"
            + "".join(f"<li>{value_html(x, limit)}</li>" for x in items[:_MAX_ITEMS]) + more + "</ol>")


def _section(name: str, value) -> str:
    body = value_html(value)
    if name == "inputs" and len(body) > _LONG_INPUT:
        what = (f"{len(value['messages'])} messages" if _is_messages(value.get("messages"))
                else ", ".join(_esc(k) for k in value))
        return (f"<details class='wb-field'><summary><b>inputs</b> · {what}</summary>"
                f"{body}</details>")
    return f"<div class='wb-field' style='margin:2px 0'><b>{name}</b><div style='margin-left:12px'>{body}</div></div>"


def span_tree_html(trace, open_depth: int = 2) -> str:
    """Nested <details> per span. Spans above ``open_depth`` (the root and its children) start open, so the
    steps of a run show at once; deeper ones stay collapsed (the browser expands them, so 1,000 spans stay
    cheap). Guardrail spans that found risk or replaced a draft are highlighted."""
    from workbench.formatting import duration_ms

    def node(span, depth: int) -> str:
        decision = span.attributes.get("decision", "")
        alert = span.kind == "guardrail" and decision not in ("", "no risk", "draft passed")
        style = "background:#ffe3e3;" if alert else ""
        head = (f"<span style='color:{KIND_COLOR.get(span.kind, '#333')};font-weight:600'>{_esc(span.name)}"
                f"</span> · {span.kind} · {duration_ms(span.duration_ms)}"
                + (f" · <b>{_esc(decision)}</b>" if decision else "")
                + (" · <b style='color:#cf1124'>error</b>" if span.status != "ok" else ""))
        body = "".join(_section(k, v) for k, v in (  # outputs and numbers before long prompts
            ("outputs", span.outputs),
            ("attributes", {k: v for k, v in span.attributes.items() if k != "messages"}),
            ("inputs", span.inputs)) if v)
        kids = "".join(node(c, depth + 1) for c in trace.children(span.span_id))
        opened = " open" if depth < open_depth else ""
        return (f"<details class='wb-span' data-span='{span.span_id}' data-depth='{depth}' "
                f"style='margin-left:14px;{style}'{opened}><summary>{head}</summary>"
                f"<div class='wb-span-body'>{body}</div>{kids}</details>")

    return "".join(node(s, 0) for s in trace.children(None))


def diff_html(before: str, after: str) -> str:
    """Word-level difference: deletions struck through in red, insertions in green."""
    import difflib

    a, b = before.split(), after.split()
    out = []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(a=a, b=b, autojunk=False).get_opcodes():
        if op in ("delete", "replace"):
            out.append(f"<del style='background:#ffe3e3'>{html.escape(' '.join(a[i1:i2]))}</del>")
        if op in ("insert", "replace"):
            out.append(f"<ins style='background:#e3f9e5'>{html.escape(' '.join(b[j1:j2]))}</ins>")
        if op == "equal":
            out.append(html.escape(" ".join(a[i1:i2])))
    return " ".join(out)


def revisions(trace) -> list[dict]:
    """Each revise step: the draft it rewrote (the preceding critique's input), the revision, the decision and
    its reason, and the critique's findings before and after. Traces written before the agent recorded a
    reason get it from the same rule the agent applies (``drafts.revision_verdict``)."""
    out, crit = [], None
    for s in trace.spans:  # spans are recorded in start order
        if s.name == "critique":
            crit = s
        elif s.name == "revise":
            draft = trace.span("draft")
            before = crit.inputs.get("draft", "") if crit else (draft.outputs.get("text", "") if draft else "")
            findings = crit.outputs.get("findings", []) if crit else []
            after, text = s.attributes.get("findings_after", []), s.outputs.get("text", "")
            decision, reason = s.attributes.get("decision", ""), s.attributes.get("reason", "")
            if decision and not reason:
                from workbench.drafts import revision_verdict

                reason = revision_verdict(findings, after, text)[1]
            out.append({"before": before, "after": text, "decision": decision or "not decided (the step failed or "
                        "was stopped)", "kept": decision == "revision kept", "reason": reason,
                        "findings": findings, "findings_after": after})
    return out


def _findings(title: str, findings: list[dict]) -> str:
    items = "".join(f"<li><b>{_esc(f.get('dimension', ''))}</b>: {_esc(f.get('problem', ''))}</li>"
                    for f in findings) or "<li>no problems</li>"
    return f"<div><b>{title}</b><ul style='margin:2px 0'>{items}</ul></div>"


def revision_html(trace) -> str:
    """The draft → revision tab: per revision, the decision and why (highlighted when the revision was
    rejected), the findings before and after, and the word diff; otherwise why nothing was revised."""
    parts = []
    for r in revisions(trace):
        color = "#e3f9e5" if r["kept"] else "#ffe3e3"
        parts.append(f"<div class='wb-revision' style='margin:6px 0'><div class='wb-revision-decision' "
                     f"style='background:{color};padding:4px 8px'><b>{_esc(r['decision'])}</b>"
                     + (f": {_esc(r['reason'])}" if r["reason"] else "") + "</div>"
                     + _findings("Critique of the draft", r["findings"])
                     + _findings("The same checks on the revision", r["findings_after"])
                     + "<div style='margin-top:4px'><b>Draft → revision</b> (struck out: removed; green: added)"
                     f"<div>{diff_html(r['before'], r['after'])}</div></div></div>")
    if parts:
        return "".join(parts)
    crit = trace.span("critique")
    if crit is not None and not crit.outputs.get("findings"):
        return "<i>No revision: the critique found no problems, so the draft was kept as written.</i>"
    if crit is not None:
        return ("<i>No revision (revising is switched off).</i>"
                + _findings("Critique of the draft", crit.outputs.get("findings", [])))
    if not any(s.kind == "llm" for s in trace.spans):
        return "<i>No draft in this trace: it was answered without a model call.</i>"
    return "<i>No revision in this trace (the critique is switched off).</i>"
