"""Search the knowledge index: query box, topic filter, ranked results with highlighted matches and score bars."""

from __future__ import annotations

import html
import re

import ipywidgets as W

from widgets.common import button, error_text, status_html

_STOP = set("a an and are as at be by for from how i in is it me my of on or our the to we what when with you".split())


def highlight(text: str, query: str) -> str:
    """HTML-escape ``text`` and mark the query's content words in it."""
    words = {w for w in re.findall(r"\w{3,}", query.lower()) if w not in _STOP}
    words = sorted({w[:-1] if len(w) > 4 and w.endswith("s") else w for w in words}, key=len, reverse=True)
    out = html.escape(text)
    if words:
        out = re.sub(r"\b(" + "|".join(map(re.escape, words)) + r")\w*", r"<mark>\g<0></mark>", out, flags=re.I)
    return out


class SearchView(W.VBox):
    def __init__(self, name: str = "knowledge", limit: int = 5):
        from workbench.corpora import TOPICS

        self.name = name
        self.query = W.Text(placeholder="e.g. how to introduce a thought record", description="Query",
                            layout=W.Layout(width="60%"))
        self.query.add_class("wb-search-query")
        self.topic = W.Dropdown(options=[("(any topic)", "")] + [(t, t) for t in TOPICS], description="Topic")
        self.limit = W.IntSlider(value=limit, min=1, max=20, description="Results")
        self.go = button("Search", "primary", "wb-search-go", icon="search")
        self.status = W.HTML()
        self.results = W.HTML()
        self.results.add_class("wb-search-results")
        self.hits: list = []
        self._index = None
        self.go.on_click(lambda _: self.search())
        self.query.on_submit(lambda _: self.search())
        super().__init__([W.HBox([self.query, self.go]), W.HBox([self.topic, self.limit]), self.status, self.results])

    def search(self) -> list:
        from workbench import retrieval

        try:
            if self._index is None:
                stale = retrieval.stale_inputs(self.name)
                self._index = retrieval.Index(self.name)
                if stale:
                    self.status.value = status_html(f"The index is stale: {len(stale)} input file(s) changed. "
                                                    f"Rebuild with workbench index --name {self.name}.", "warn")
            self.hits = self._index.search(self.query.value, self.limit.value, topic=self.topic.value or None)
        except Exception as exc:
            self.status.value = status_html(error_text(exc), "error")
            self.hits = []
            return self.hits
        top = max((h.score for h in self.hits), default=1.0) or 1.0
        self.results.value = "".join(
            f"<div style='margin:8px 0;padding:6px 10px;border-left:4px solid #2680c2'>"
            f"<b>{html.escape(h.citation)}</b> {html.escape(h.title)} · <i>{html.escape(h.heading)}</i> "
            f"<span style='display:inline-block;width:{100 * h.score / top:.0f}px;height:8px;background:#27ab83'>"
            f"</span> {h.score:.3f}<div style='line-height:1.4'>{highlight(h.text, self.query.value)}</div>"
            f"<div style='color:#7b8794;font-size:85%'>{html.escape(h.source)}</div></div>" for h in self.hits
        ) or "<i>No results.</i>"
        return self.hits
