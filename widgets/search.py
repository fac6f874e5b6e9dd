"""Search the knowledge index: query box, topic filter, ranked results with highlighted matches and score bars;
build or rebuild the index (cards plus an optional documents folder) with a progress bar and Stop."""

from __future__ import annotations

import html
import re

import ipywidgets as W

from widgets.common import JobPanel, JobView, button, error_text, with_class
from workbench.jobs import Job

__all__ = ["SearchView", "highlight"]

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
        self.topic = W.Dropdown(options=[("(any topic)", "")] + [(t, t) for t in TOPICS], description="Topic")
        self.limit = W.IntSlider(value=limit, min=1, max=20, description="Results")
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
        top = max((h.score for h in self.hits), default=1.0) or 1.0
        self.results.value = "".join(
            f"<div style='margin:8px 0;padding:6px 10px;border-left:4px solid #2680c2'>"
            f"<b>{html.escape(h.citation)}</b> {html.escape(h.title)} · <i>{html.escape(h.heading)}</i> "
            f"<span style='display:inline-block;width:{100 * h.score / top:.0f}px;height:8px;background:#27ab83'>"
            f"</span> {h.score:.3f}<div style='line-height:1.4'>{highlight(h.text, self.query.value)}</div>"
            f"<div style='color:#7b8794;font-size:85%'>{html.escape(h.source)}</div></div>" for h in self.hits
        ) or "<i>No results.</i>"
        return self.hits
