"""Search the knowledge index: query box, topic filter, ranked results with highlighted matches and score bars;
build or rebuild the index (cards plus an optional documents folder) with a progress bar and Stop.

A bar's length is the hit's absolute score (0-1), with a tick at ``retrieval.SCORE_FLOOR``; a bar scaled to
the best hit made the top result of a nonsense query look as confident as a real one. Hits below the floor
are greyed and labelled "no good match". Changing the topic or the number of results searches again.
"""

from __future__ import annotations

import html
import re

import ipywidgets as W

from widgets.common import JobPanel, JobView, button, error_text, with_class
from workbench.jobs import Job

__all__ = ["BAR_PX", "SearchView", "highlight"]

BAR_PX = 150  # the bar of a hit scoring 1.0

_STOP = set("a an and are as at be by for from how i in is it me my of on or our the to we what when with you".split())


def highlight(text: str, query: str) -> str:
    """HTML-escape ``text`` and mark the query's content words in it."""
    words = {w for w in re.findall(r"\w{3,}", query.lower()) if w not in _STOP}
    words = sorted({w[:-1] if len(w) > 4 and w.endswith("s") else w for w in words}, key=len, reverse=True)
    out = html.escape(text)
    if words:
        out = re.sub(r"\b(" + "|".join(map(re.escape, words)) + r")\w*", r"<mark>\g<0></mark>", out, flags=re.I)
    return out


class SearchView(JobView, W.VBox):
    def __init__(self, name: str = "knowledge", limit: int = 5):
        from workbench.corpora import TOPICS

        self.name = name
        self.query = with_class(W.Text(placeholder="e.g. how to introduce a thought record", description="Query",
                                       layout=W.Layout(width="60%"), continuous_update=False), "wb-search-query")
        self.topic = with_class(W.Dropdown(options=[("(any topic)", "")] + [(t, t) for t in TOPICS],
                                           description="Topic"), "wb-search-topic")
        self.limit = W.IntSlider(value=limit, min=1, max=20, description="Results", continuous_update=False)
        self.go = button("Search", "primary", "wb-search-go", icon="search")
        self.results = with_class(W.HTML(), "wb-search-results")
        self.docs = W.Text(placeholder="optional: a folder of .md/.txt/.pdf/.jsonl/.csv documents",
                           description="Documents", layout=W.Layout(width="60%"))
        self.build = button("Build index", "", "wb-search-build", icon="database")
        self.panel = JobPanel(self.build, "wb-search", bar="Embedded", progress="{message}")
        self.hits: list = []
        self._index = None
        self.go.on_click(lambda _: self.search())
        self.query.observe(lambda _: self.search(), names="value")  # Enter (or leaving the box) searches
        for control in (self.topic, self.limit):  # results always match the filters shown
            control.observe(lambda _: self._search_again(), names="value")
        self.build.on_click(lambda _: self.start_build())
        super().__init__([W.HBox([self.query, self.go]), W.HBox([self.topic, self.limit]), self.status, self.results,
                          W.HBox([self.docs, *self.panel.controls])])
        self._check()

    def _check(self) -> None:
        """Say whether the index is missing or stale, and label the build button to match."""
        from workbench import retrieval

        state, stale = retrieval.index_status(self.name)
        if state == "missing":
            self.build.description = "Build index"
            self.panel.say(f"No index named {self.name!r} yet: press Build index.", "warn")
            return
        self.build.description = "Rebuild index"
        if state == "stale":
            self.panel.say(f"The index is stale: {len(stale)} input file(s) changed since it was built. "
                           "Press Rebuild index (only changed chunks are embedded).", "warn")
        elif state == "outdated":
            self.panel.say("The index was made by an older version (another embedder, or no checksums of its "
                           "files): press Rebuild index.", "warn")

    def start_build(self) -> Job:
        """Build in the background; the old index serves searches until the new one replaces it."""
        return self.panel.run(self._build, "index", "Building…")

    def _build(self, job: Job):
        from workbench import retrieval

        folder = self.docs.value.strip()  # none given: keep the folders the index already holds
        path = (retrieval.build_index(self.name, folder, progress=job.progress, cancel=job.cancelled) if folder
                else retrieval.rebuild(self.name, job.progress, cancel=job.cancelled))
        if path is None:
            self.panel.say("Stopped. The index is as it was; the chunks embedded so far are kept, so the next "
                           "build goes on from there.", "warn")
            return None
        self._index = None
        m = retrieval.manifest(self.name)
        self.build.description = "Rebuild index"
        docs = retrieval.describe(m.get("documents"))  # the files indexed, and each skipped one with why
        self.panel.say(f"Indexed {m['chunks']} chunks in {m['build_seconds']} s "
                       f"({m['embedded']} embedded, {m['reused']} reused)." + (f"\n{docs}" if docs else ""),
                       "warn" if (m.get("documents") or {}).get("skipped") else "ok")
        return path

    def _search_again(self) -> None:
        if self.query.value.strip():  # no query yet: nothing to redo, and no "empty query" error
            self.search()

    def search(self) -> list:
        from workbench import retrieval

        try:
            if self._index is None:  # the first load in a kernel imports txtai (torch, transformers): seconds
                self.panel.say("Loading the index (the first time in a session takes a few seconds)…")
                self._index = retrieval.Index(self.name)
                self.status.value = ""
                self._check()
            self.hits = self._index.search(self.query.value, self.limit.value, topic=self.topic.value or None)
        except Exception as exc:
            self.panel.say(error_text(exc), "error")
            self.hits = []
            return self.hits
        self.results.value = self._render()
        return self.hits

    def _render(self) -> str:
        from workbench.retrieval import SCORE_FLOOR

        if not self.hits:
            return "<i>No results.</i>"
        head = ""
        if not any(h.good for h in self.hits):
            where = html.escape(f" in topic {self.topic.value!r}", quote=False) if self.topic.value else ""
            fix = "other words, or the topic (any topic)" if self.topic.value else "other words"
            head = (f"<div class='wb-search-nomatch' style='color:#cb6e17;margin:6px 0'>No good match{where}: the best "
                    f"hit scores {self.hits[0].score:.2f}, below the floor of {SCORE_FLOOR:.2f}. Try {fix}.</div>")
        return head + "".join(self._hit_html(h) for h in self.hits)

    def _hit_html(self, h) -> str:
        from workbench.retrieval import SCORE_FLOOR

        width = round(BAR_PX * min(max(h.score, 0.0), 1.0))
        color, edge, fade, label = (("#27ab83", "#2680c2", "", "") if h.good else
                                    ("#bcccdc", "#bcccdc", "opacity:0.6;",
                                     " <span class='wb-search-weak' style='color:#cb6e17'>no good match</span>"))
        bar = (f"<span title='score {h.score:.3f} (floor {SCORE_FLOOR:.2f}, full bar 1.0)' style='display:inline-block;"
               f"position:relative;width:{BAR_PX}px;height:8px;background:#f0f4f8'>"
               f"<span class='wb-search-bar' data-width='{width}' style='position:absolute;left:0;top:0;"
               f"width:{width}px;height:8px;background:{color}'></span>"
               f"<span style='position:absolute;left:{round(BAR_PX * SCORE_FLOOR)}px;top:-2px;width:1px;height:12px;"
               f"background:#486581'></span></span>")
        return (f"<div class='wb-search-hit' style='margin:8px 0;padding:6px 10px;border-left:4px solid {edge};{fade}'>"
                f"<b>{html.escape(h.citation)}</b> {html.escape(h.title)} · <i>{html.escape(h.heading)}</i> "
                f"{bar} {h.score:.3f}{label}<div style='line-height:1.4'>{highlight(h.text, self.query.value)}</div>"
                f"<div style='color:#7b8794;font-size:85%'>{html.escape(h.source)}</div></div>")
