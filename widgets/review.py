"""Blind expert review on T-BARS: one response at a time, rate, save and move on; a summary tab.

The configuration and item id are never shown; the order is the rater's own shuffle
(``workbench.ratings.order``). On construction, and whenever the rater name changes, the view reopens
at the rater's first unrated item. Each rubric level's anchor shows when hovering over its button; the
chosen level is drawn filled and bold, so a glance shows which rows are done.

Saving with a dimension unrated keeps the item on screen as a draft (saved, not counted as rated) and
names the dimensions left. Moving away without saving (Back, Skip, ←/→) keeps what was typed or chosen
for that item until the kernel stops; coming back shows it again.

Keyboard (after a click on the card): 1–5 rate the marked row and move to the next, 0 clears it,
↑/↓ move the mark, Enter saves and opens the next item, ←/→ go back or skip. Typing in the
comment box is never taken as a shortcut.
"""

from __future__ import annotations

import html
import time

import ipywidgets as W
import traitlets

from widgets.common import button, error_text, status_html, with_class
from widgets.keys import KeyListener
from workbench import ratings
from workbench.formatting import frame_html

__all__ = ["KEY_HINT", "KEYS", "LevelPicker", "ReviewView"]

SELECTED = "wb-level-selected"  # CSS class of the chosen level's button (the browser test finds it)


class LevelPicker(W.HBox):
    """Five buttons, 1–5, of which at most one is chosen (``value``; None: unrated).

    ToggleButtons marks its chosen button with a faint shade that is hard to tell apart in JupyterLab's
    themes; here the chosen one is filled (``button_style="primary"``), bold and framed.
    """

    value = traitlets.Int(None, allow_none=True)

    def __init__(self, anchors: dict[int, str]):
        self.buttons = [W.Button(description=str(v), tooltip=f"{v}: {anchors.get(v, '')}",
                                 layout=W.Layout(width="36px", border="2px solid transparent")) for v in range(1, 6)]
        for v, b in enumerate(self.buttons, 1):
            b.on_click(lambda _b, v=v: setattr(self, "value", v))
        super().__init__(self.buttons)
        self.observe(lambda _: self._paint(), names="value")

    @traitlets.validate("value")
    def _check(self, proposal):
        v = proposal["value"]
        if v is not None and not 1 <= v <= 5:
            raise traitlets.TraitError(f"A level must be 1–5 or None (unrated), not {v!r}.")
        return v

    @property
    def tooltips(self) -> list[str]:
        return [b.tooltip for b in self.buttons]

    def _paint(self) -> None:
        for v, b in enumerate(self.buttons, 1):
            on = v == self.value
            b.button_style = "primary" if on else ""
            b.style.font_weight = "bold" if on else ""
            b.layout.border = f"2px solid {'#102a43' if on else 'transparent'}"
            (b.add_class if on else b.remove_class)(SELECTED)


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
        self.dims: dict[str, LevelPicker] = {}
        self.dim_names = {d.id: d.name for d in self.rubric.dimensions}
        rows: list[W.HBox] = []
        for d in self.rubric.dimensions:
            t = self.dims[d.id] = with_class(LevelPicker(d.anchors), "wb-review-dim", f"wb-review-dim-{d.id}")
            label = W.HTML(f"<b title='{html.escape(d.definition.strip(), quote=True)}'>{html.escape(d.name)}</b>",
                           layout=W.Layout(width="220px"))
            rows.append(W.HBox([label, t]))
        self.judgements: dict[str, LevelPicker] = {}
        for j in ratings.JUDGEMENTS:
            t = self.judgements[j] = with_class(LevelPicker(ratings.AGREE_ANCHORS), "wb-review-judgement",
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
        self._shown: tuple[str, str] | None = None  # (rater, item id) whose values the controls hold
        self._loaded: dict = {}  # what was saved for it when it was opened
        self.unsaved: dict[tuple[str, str], dict] = {}  # (rater, item id) -> values left without saving
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
        """The rater's latest record per item, drafts included."""
        name = self.rater.value.strip()
        if not name:
            return {}
        return {r.item_id: r for r in ratings.load_ratings(self.study, name)}

    def _values(self) -> dict:
        return {"scores": {d: t.value for d, t in self.dims.items()},
                "judgements": {j: t.value for j, t in self.judgements.items()}, "comment": self.comment.value}

    def _set_values(self, v: dict) -> None:
        for d, t in self.dims.items():
            t.value = v["scores"].get(d)
        for j, t in self.judgements.items():
            t.value = v["judgements"].get(j)
        self.comment.value = v["comment"]

    def _keep_unsaved(self) -> None:
        """Remember the controls' values for the item being left, if they differ from what is saved."""
        if self._shown is None:
            return
        now = self._values()
        if now == self._loaded:
            self.unsaved.pop(self._shown, None)
        else:
            self.unsaved[self._shown] = now

    def resume(self) -> None:
        """Order the items for this rater and open the first one they have not rated.

        Values chosen before any name was typed become this rater's, and their item stays on screen."""
        name = self.rater.value.strip()
        self._keep_unsaved()
        carry = None
        if self._shown and not self._shown[0] and name:
            for key in [key for key in self.unsaved if not key[0]]:
                self.unsaved.setdefault((name, key[1]), self.unsaved.pop(key))
            carry = self._shown[1] if (name, self._shown[1]) in self.unsaved else None
        self._shown = None  # kept above; go() must not file them again under the new name
        try:
            self.order = ratings.order(self.items, name, self.seed)
            k = ratings.next_unrated(self.study, name, self.items, self.seed) if name else 0
        except Exception as exc:
            self.status.value = status_html(error_text(exc), "error")
            return
        if carry is not None:
            k = [i.id for i in self.order].index(carry)
            self.status.value = status_html(f"Your choices on this item are kept: save to record them as {name}.")
        elif k is None:
            self.status.value = status_html("All items rated. Back reopens earlier ones; see the Summary tab.", "ok")
            k = len(self.order) - 1
        elif not name:
            self.status.value = status_html("Enter your rater name to start; ratings are saved per rater.", "warn")
        else:
            self.status.value = status_html(f"Resuming at your first unrated item ({k + 1}).")
        self.go(k)

    def go(self, k: int) -> None:
        """Open the item at position ``k``, showing its unsaved values if it was left unsaved, else its saved ones."""
        if not self.order:
            return
        self._keep_unsaved()
        self.pos = max(0, min(k, len(self.order) - 1))
        it = self.current
        rated = self._rated()
        prev = rated.get(it.id)
        scores, judgements = (prev.scores, prev.judgements) if prev else ({}, {})
        self._loaded = {"scores": {d: scores.get(d) for d in self.dims},  # the shape of _values(): untouched == equal
                        "judgements": {j: judgements.get(j) for j in self.judgements},
                        "comment": prev.comment if prev else ""}
        self._shown = (self.rater.value.strip(), it.id)
        self._set_values(self.unsaved.get(self._shown, self._loaded))
        # Blind: only the query and the response; never the configuration or the item id.
        self.query.value = (f"<div style='color:#486581'><b>Query</b></div>"
                            f"<div style='white-space:pre-wrap'>{html.escape(it.query)}</div>")
        self.response.value = (f"<div style='color:#486581'><b>Response</b></div>"
                               f"<div style='white-space:pre-wrap;border-left:3px solid #9fb3c8;padding-left:8px'>"
                               f"{html.escape(it.response)}</div>")
        self._show_progress(rated)
        self.back.disabled = self.pos == 0
        self.move_mark(0)
        self._shown_at = time.monotonic()

    def _show_progress(self, rated: dict[str, ratings.Rating] | None = None) -> None:
        rated = self._rated() if rated is None else rated
        dims = list(self.dims)
        n_done = sum(1 for i in self.items if i.id in rated and not rated[i.id].missing(dims))
        prev = rated.get(self.current.id)
        note = ""
        if self._shown in self.unsaved:
            note = " · unsaved changes kept from before (save to keep them)"
        elif prev and prev.missing(dims):
            note = f" · draft: {len(prev.missing(dims))} dimension(s) to rate"
        elif prev:
            note = " · already rated (saving replaces it)"
        self.progress.value = f"<span>Item {self.pos + 1} of {len(self.order)} · {n_done} rated{note}</span>"
        self.bar.value = n_done

    # ---- saving ----------------------------------------------------------------------------------
    def rating(self) -> ratings.Rating:
        """The controls' current values as a Rating of the item on screen."""
        return ratings.Rating(study=self.study, rater=self.rater.value.strip(), item_id=self.current.id,
                              scores={d: t.value for d, t in self.dims.items()},
                              judgements={j: t.value for j, t in self.judgements.items()},
                              comment=self.comment.value.strip(),
                              seconds=round(time.monotonic() - self._shown_at, 1))

    def save_and_next(self) -> ratings.Rating | None:
        """Save and open the next item; with a dimension unrated, save a draft and stay (None: nothing saved)."""
        if not self.rater.value.strip():
            self.status.value = status_html("Enter your rater name first.", "error")
            return None
        try:
            r = self.rating()
            ratings.save_rating(r)
        except Exception as exc:
            self.status.value = status_html(error_text(exc), "error")
            return None
        self.unsaved.pop(self._shown, None)
        self._loaded = self._values()
        missing = r.missing(list(self.dims))
        if missing:  # stay here, with the mark on the first row left, so Enter does not skip past it
            self._show_progress()
            self.move_mark(list(self.dims).index(missing[0]))
            names = ", ".join(self.dim_names[d] for d in missing)
            self.status.value = status_html(
                f"Saved as a draft, not counted as rated: {names} still unrated. Rate them (1–5) and save again; "
                "Skip moves on and keeps the draft.", "warn")
            return r
        k = ratings.next_unrated(self.study, r.rater, self.items, self.seed)
        if k is None:
            self.go(self.pos)
            self.status.value = status_html("Saved. All items rated — thank you. See the Summary tab.", "ok")
        else:
            self.go(self.pos + 1 if self.pos + 1 < len(self.order) else k)
            self.status.value = status_html("Saved.", "ok")
        return r

    # ---- summary ---------------------------------------------------------------------------------
    def show_summary(self):
        try:
            s = ratings.summary(self.study, self.items)
        except Exception as exc:
            self.summary_html.value = status_html(error_text(exc), "error")
            return None
        self.summary = s
        drafts = f" ({s.n_drafts} draft(s) with unrated dimensions left out)" if s.n_drafts else ""
        self.summary_html.value = (  # tables scroll in their own box, numbers through one formatter
            f"<p>{s.n_ratings} ratings by {len(s.raters)} rater(s): {html.escape(', '.join(s.raters))}{drafts}</p>"
            "<h4>Mean human rating by configuration</h4>" + frame_html(s.means, "wb-review-means")
            + "<h4>Inter-rater agreement (Krippendorff's α, ordinal)</h4>" + frame_html(s.alpha, "wb-review-alpha")
            + "<h4>Mean human rating against the automatic features scorer</h4>"
            + frame_html(s.automatic, "wb-review-auto"))
        return s
