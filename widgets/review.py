"""Blind expert review on T-BARS: one response at a time, rate, save and move on; a summary tab.

The configuration and item id are never shown; the order is the rater's own shuffle
(``workbench.ratings.order``). On construction, and whenever the rater name changes, the view reopens
at the rater's first unrated item. Each rubric level's anchor shows when hovering over its button.

Keyboard (after a click on the card): 1–5 rate the marked row and move to the next, 0 clears it,
↑/↓ move the mark, Enter saves and opens the next item, ←/→ go back or skip. Typing in the
comment box is never taken as a shortcut.
"""

from __future__ import annotations

import html
import time

import ipywidgets as W

from widgets.common import button, error_text, status_html, with_class
from widgets.keys import KeyListener
from workbench import ratings

__all__ = ["KEY_HINT", "KEYS", "ReviewView"]


def _levels(anchors: dict[int, str]) -> W.ToggleButtons:
    t = W.ToggleButtons(options=[(str(v), v) for v in range(1, 6)], value=None,
                        tooltips=[f"{v}: {anchors.get(v, '')}" for v in range(1, 6)],
                        style={"button_width": "36px"})
    return t


KEYS = ("0", "1", "2", "3", "4", "5", "ArrowUp", "ArrowDown", "ArrowLeft", "ArrowRight", "Enter")
KEY_HINT = ("Keys (click the card first): 1–5 rate the marked row and move down · 0 clear · ↑/↓ move the mark"
            " · Enter save & next · ←/→ back / skip")


class ReviewView(W.VBox):
    def __init__(self, study_items, study: str = "demo", rater: str = "", seed: int = 0):
        from workbench.corpora import load_rubric

        self.study, self.seed = study, seed
        self.items = ratings.items_from(study_items)
        ratings.save_study(study, self.items)
        self.rubric = load_rubric()
        self.rater = with_class(W.Text(value=rater, description="Rater", placeholder="your initials",
                                       continuous_update=False), "wb-review-rater")
        self.progress = with_class(W.HTML(), "wb-review-progress")
        self.bar = W.IntProgress(value=0, min=0, max=len(self.items))
        self.query = with_class(W.HTML(), "wb-review-query")
        self.response = with_class(W.HTML(), "wb-review-response")
        self.dims: dict[str, W.ToggleButtons] = {}
        rows: list[W.HBox] = []
        for d in self.rubric.dimensions:
            t = self.dims[d.id] = with_class(_levels(d.anchors), "wb-review-dim", f"wb-review-dim-{d.id}")
            label = W.HTML(f"<b title='{html.escape(d.definition.strip(), quote=True)}'>{html.escape(d.name)}</b>",
                           layout=W.Layout(width="220px"))
            rows.append(W.HBox([label, t]))
        self.judgements: dict[str, W.ToggleButtons] = {}
        for j in ratings.JUDGEMENTS:
            t = self.judgements[j] = with_class(_levels(ratings.AGREE_ANCHORS), "wb-review-judgement",
                                                f"wb-review-judgement-{j}")
            rows.append(W.HBox([W.HTML(html.escape(ratings.JUDGEMENT_LABELS[j]), layout=W.Layout(width="220px")), t]))
        self.comment = W.Textarea(placeholder="Comment (optional)", layout=W.Layout(width="95%", height="60px"))
        self.comment.add_class("wb-review-comment")
        self.back = button("Back", "", "wb-review-back", icon="arrow-left")
        self.skip = button("Skip", "", "wb-review-skip", icon="forward")
        self.save = button("Save & next", "success", "wb-review-save", icon="check")
        self.status = with_class(W.HTML(), "wb-review-status")
        self.refresh = button("Refresh summary", "info", "wb-review-summary-refresh", icon="table")
        self.summary_html = with_class(W.HTML(), "wb-review-summary")
        self.summary = None
        self.back.on_click(lambda _: self.go(self.pos - 1))
        self.skip.on_click(lambda _: self.go(self.pos + 1))
        self.save.on_click(lambda _: self.save_and_next())
        self.refresh.on_click(lambda _: self.show_summary())
        self.rater.observe(lambda _: self.resume(), names="value")
        self.rows = rows  # one per rating control, in screen order; the keyboard's mark moves over them
        self.mark = 0
        self.shortcuts = KeyListener(self.press, KEYS, scope="wb-review-card", hint=KEY_HINT)
        review = W.VBox([W.HBox([self.rater, self.progress, self.bar]), self.query, self.response,
                         W.VBox(rows), self.comment, W.HBox([self.back, self.skip, self.save]), self.status,
                         self.shortcuts])
        review.add_class("wb-review-card")
        tabs = W.Tab([review, W.VBox([self.refresh, self.summary_html])])
        tabs.set_title(0, "Review")
        tabs.set_title(1, "Summary")
        self.tabs = tabs
        self.order: list[ratings.ReviewItem] = []
        self.pos = 0
        self._shown_at = time.monotonic()
        super().__init__([tabs])
        self.resume()

    # ---- keyboard --------------------------------------------------------------------------------
    def press(self, key: str) -> None:
        """What a shortcut key does (see the module docstring); unknown keys are ignored."""
        control = self.rows[self.mark].children[1]
        if len(key) == 1 and key in "12345":
            control.value = int(key)
            self.move_mark(self.mark + 1)
        elif key == "0":
            control.value = None
        elif key in ("ArrowDown", "ArrowUp"):
            self.move_mark(self.mark + (1 if key == "ArrowDown" else -1))
        elif key == "Enter":
            self.save_and_next()
        elif key in ("ArrowLeft", "ArrowRight") and self.order:
            self.go(self.pos + (1 if key == "ArrowRight" else -1))

    def move_mark(self, k: int) -> None:
        self.mark = max(0, min(k, len(self.rows) - 1))
        for i, row in enumerate(self.rows):
            row.layout.border_left = f"4px solid {'#f0b429' if i == self.mark else 'transparent'}"

    # ---- navigation ------------------------------------------------------------------------------
    @property
    def current(self) -> ratings.ReviewItem | None:
        return self.order[self.pos] if self.order and 0 <= self.pos < len(self.order) else None

    def _rated(self) -> dict[str, ratings.Rating]:
        name = self.rater.value.strip()
        if not name:
            return {}
        return {r.item_id: r for r in ratings.load_ratings(self.study, name)}

    def resume(self) -> None:
        """Order the items for this rater and open the first one they have not rated."""
        name = self.rater.value.strip()
        try:
            self.order = ratings.order(self.items, name, self.seed)
            k = ratings.next_unrated(self.study, name, self.items, self.seed) if name else 0
        except Exception as exc:
            self.status.value = status_html(error_text(exc), "error")
            return
        if k is None:
            self.status.value = status_html("All items rated. Back reopens earlier ones; see the Summary tab.", "ok")
            k = len(self.order) - 1
        elif not name:
            self.status.value = status_html("Enter your rater name to start; ratings are saved per rater.", "warn")
        else:
            self.status.value = status_html(f"Resuming at your first unrated item ({k + 1}).")
        self.go(k)

    def go(self, k: int) -> None:
        if not self.order:
            return
        self.pos = max(0, min(k, len(self.order) - 1))
        it = self.current
        rated = self._rated()
        prev = rated.get(it.id)
        for d, t in self.dims.items():
            t.value = prev.scores.get(d) if prev else None
        for j, t in self.judgements.items():
            t.value = prev.judgements.get(j) if prev else None
        self.comment.value = prev.comment if prev else ""
        # Blind: only the query and the response; never the configuration or the item id.
        self.query.value = (f"<div style='color:#486581'><b>Query</b></div>"
                            f"<div style='white-space:pre-wrap'>{html.escape(it.query)}</div>")
        self.response.value = (f"<div style='color:#486581'><b>Response</b></div>"
                               f"<div style='white-space:pre-wrap;border-left:3px solid #9fb3c8;padding-left:8px'>"
                               f"{html.escape(it.response)}</div>")
        n_done = sum(1 for i in self.items if i.id in rated)
        self.progress.value = (f"<span>Item {self.pos + 1} of {len(self.order)} · {n_done} rated"
                               f"{' · already rated (saving replaces it)' if prev else ''}</span>")
        self.bar.value = n_done
        self.back.disabled = self.pos == 0
        self.move_mark(0)
        self._shown_at = time.monotonic()

    # ---- saving ----------------------------------------------------------------------------------
    def rating(self) -> ratings.Rating:
        """The controls' current values as a Rating of the item on screen."""
        return ratings.Rating(study=self.study, rater=self.rater.value.strip(), item_id=self.current.id,
                              scores={d: t.value for d, t in self.dims.items()},
                              judgements={j: t.value for j, t in self.judgements.items()},
                              comment=self.comment.value.strip(),
                              seconds=round(time.monotonic() - self._shown_at, 1))

    def save_and_next(self) -> ratings.Rating | None:
        if not self.rater.value.strip():
            self.status.value = status_html("Enter your rater name first.", "error")
            return None
        try:
            r = self.rating()
            ratings.save_rating(r)
        except Exception as exc:
            self.status.value = status_html(error_text(exc), "error")
            return None
        unrated = [k for k, s in enumerate(r.scores.values()) if s is None]
        note = f" ({len(unrated)} dimension(s) left unrated)" if unrated else ""
        k = ratings.next_unrated(self.study, r.rater, self.items, self.seed)
        if k is None:
            self.go(self.pos)
            self.status.value = status_html(f"Saved{note}. All items rated — thank you. See the Summary tab.", "ok")
        else:
            self.go(self.pos + 1 if self.pos + 1 < len(self.order) else k)
            self.status.value = status_html(f"Saved{note}.", "ok")
        return r

    # ---- summary ---------------------------------------------------------------------------------
    def show_summary(self):
        try:
            s = ratings.summary(self.study, self.items)
        except Exception as exc:
            self.summary_html.value = status_html(error_text(exc), "error")
            return None
        self.summary = s
        fmt = {"float_format": lambda v: f"{v:.2f}", "na_rep": "–"}
        self.summary_html.value = (
            f"<p>{s.n_ratings} ratings by {len(s.raters)} rater(s): {html.escape(', '.join(s.raters))}</p>"
            "<h4>Mean human rating by configuration</h4>" + s.means.to_html(classes="wb-review-means", **fmt)
            + "<h4>Inter-rater agreement (Krippendorff's α, ordinal)</h4>"
            + s.alpha.to_html(classes="wb-review-alpha", **fmt)
            + "<h4>Mean human rating against the automatic features scorer</h4>"
            + s.automatic.to_html(classes="wb-review-auto", **fmt))
        return s
