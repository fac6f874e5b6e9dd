"""Search the knowledge index: query box, topic filter, ranked results with highlighted matches and score bars;
build or rebuild the index (cards plus an optional documents folder) with a progress bar and Stop."""

from __future__ import annotations

import html
import re

import ipywidgets as W

from widgets.common import button, error_text, running, status_html
from workbench.jobs import Job

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
        self.status.add_class("wb-search-status")
        self.results = W.HTML()
        self.results.add_class("wb-search-results")
        self.docs = W.Text(placeholder="optional: a folder of .md/.txt/.jsonl/.csv documents", description="Documents",
                           layout=W.Layout(width="60%"))
        self.build = button("Build index", "", "wb-search-build", icon="database")
        self.stop = button("Stop", "warning", "wb-search-stop", icon="stop", disabled=True)
        self.bar = W.IntProgress(value=0, min=0, max=1, description="Embedded")
        self.hits: list = []
        self.job: Job | None = None
        self._index = None
        self.go.on_click(lambda _: self.search())
        self.query.on_submit(lambda _: self.search())
        self.build.on_click(lambda _: self.start_build())
        self.stop.on_click(lambda _: self.job and self.job.cancel())
        super().__init__([W.HBox([self.query, self.go]), W.HBox([self.topic, self.limit]), self.status, self.results,
                          W.HBox([self.docs, self.build, self.stop, self.bar])])
        self._check()

    def _check(self) -> None:
        """Say whether the index is missing or stale, and label the build button to match."""
        from workbench import retrieval
        from workbench.errors import WorkbenchError

        try:
            stale = retrieval.stale_inputs(self.name)
        except WorkbenchError:
            self.build.description = "Build index"
            self.status.value = status_html(f"No index named {self.name!r} yet: press Build index.", "warn")
            return
        self.build.description = "Rebuild index"
        if stale:
            self.status.value = status_html(f"The index is stale: {len(stale)} input file(s) changed since it was "
                                            "built. Press Rebuild index (only changed chunks are embedded).", "warn")

    def start_build(self) -> Job:
        """Build in the background; the old index serves searches until the new one replaces it."""
        if self.job is not None and self.job.running:
            return self.job
        self.status.value = status_html("Building…")
        self.job = Job(self._build, name="index").on_progress(self._on_progress).start()
        return self.job

    def _on_progress(self, job: Job) -> None:
        self.bar.max, self.bar.value = max(job.total, 1), job.done
        if job.running and job.message:
            self.status.value = status_html(job.message)

    def _build(self, job: Job):
        from workbench import retrieval

        with running(self.status, self.build, self.stop):
            folder = self.docs.value.strip()  # none given: keep the folders the index already holds
            path = (retrieval.build_index(self.name, folder, progress=job.progress, cancel=job.cancelled) if folder
                    else retrieval.rebuild(self.name, job.progress, cancel=job.cancelled))
            if path is None:
                self.status.value = status_html("Stopped. The index is as it was; the chunks embedded so far are "
                                                "kept, so the next build goes on from there.", "warn")
                return None
            self._index = None
            m = retrieval.manifest(self.name)
            self.build.description = "Rebuild index"
            self.status.value = status_html(f"Indexed {m['chunks']} chunks in {m['build_seconds']} s "
                                            f"({m['embedded']} embedded, {m['reused']} reused).", "ok")
            return path

    def search(self) -> list:
        from workbench import retrieval

        try:
            if self._index is None:  # the first load in a kernel imports txtai (torch, transformers): seconds
                self.status.value = status_html("Loading the index (the first time in a session takes a few "
                                                "seconds)…")
                self._index = retrieval.Index(self.name)
                self.status.value = ""
                self._check()
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
