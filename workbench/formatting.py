"""How numbers, durations and tables are shown to people: one formatter for every widget, report and status line.

Raw floats read badly in a table (``7.88e+04`` ms, ``366443.920374``, ``None``): durations are shown in the unit
a person would say ("366 ms", "4.2 s", "78 s", "3 min 5 s"), other numbers to three significant digits without
exponents, anything missing as an em dash. Wide tables go in a box that scrolls sideways on its own, so a page or
a widget never grows past the screen.
"""

from __future__ import annotations

import html
import math
from numbers import Number

__all__ = ["DASH", "SCROLL_STYLE", "duration", "duration_ms", "finish_note", "frame_html", "number", "readable",
           "scroll_box", "value"]

DASH = "—"
SCROLL_STYLE = "overflow-x:auto;max-width:100%"


def _missing(v) -> bool:
    """None, NaN, and pandas' NA / NaT (checked by type name: importing pandas here would slow ``import workbench``)."""
    if v is None or type(v).__name__ in ("NAType", "NaTType"):
        return True
    try:
        return isinstance(v, Number) and math.isnan(float(v))
    except (TypeError, ValueError):
        return False


def _is_bool(v) -> bool:
    return isinstance(v, bool) or type(v).__name__ in ("bool_", "bool")  # numpy's bool is no Python bool


def duration(seconds) -> str:
    """Seconds as a person says them: "366 ms", "4.2 s", "78 s", "3 min 5 s", "2 h 14 min"; missing: "—"."""
    if _missing(seconds):
        return DASH
    s = float(seconds)
    if s < 0:
        return "-" + duration(-s)
    if round(s * 1000) < 1000:
        ms = s * 1000
        return f"{ms:.0f} ms" if ms >= 10 or ms == 0 else f"{ms:.2g} ms"
    if round(s, 1) < 10:
        return f"{s:.1f} s"
    r = round(s)
    if r < 100:
        return f"{r} s"
    if r < 3600:
        m, sec = divmod(r, 60)
        return f"{m} min {sec} s" if sec else f"{m} min"
    h, rest = divmod(r, 3600)
    return f"{h} h {rest // 60} min" if rest // 60 else f"{h} h"


def duration_ms(ms) -> str:
    """:func:`duration` of a value in milliseconds (what traces and evaluation rows store)."""
    return DASH if _missing(ms) else duration(float(ms) / 1000)


def number(v, digits: int = 3, *, signed: bool = False) -> str:
    """A number for a table: ``digits`` significant digits below 10**digits, whole numbers with thousands
    separators above (78,812, never 7.88e+04); booleans as yes/no; missing as "—"; ``signed`` adds a "+"."""
    if _missing(v):
        return DASH
    if _is_bool(v):
        return "yes" if v else "no"
    if not isinstance(v, Number):
        return str(v)
    x = float(v)
    if math.isinf(x):
        return ("+" if signed and x > 0 else "") + ("∞" if x > 0 else "-∞")
    plus = "+" if signed and x > 0 else ""
    if isinstance(v, int) or (x.is_integer() and abs(x) >= 10 ** digits):
        return f"{plus}{int(x):,}"
    if abs(x) >= 10 ** digits:
        return f"{plus}{round(x):,}"
    text = f"{x:.{digits}g}"
    if "e" in text:  # 999.7 rounds up to "1e+03"; below 1e-4 keep the digits rather than an exponent
        text = (f"{round(x):,}" if abs(x) >= 1 else
                f"{x:.{digits - 1 - math.floor(math.log10(abs(x)))}f}".rstrip("0").rstrip("."))
    return "0" if text in ("-0", "0") else plus + text


def value(v, column: str = "") -> str:
    """Any table cell, chosen by its column's name: ``*_ms`` / "… ms" are milliseconds, ``*_s`` / "seconds" (not
    ``*_per_s``) seconds; lists are joined; other numbers go through :func:`number`."""
    name = column.lower().strip()
    if isinstance(v, (list, tuple)):
        return ", ".join(value(x) for x in v) or DASH
    if isinstance(v, str):
        return v
    if isinstance(v, Number) and not _is_bool(v):
        if name.endswith(("_ms", " ms", "(ms)")):
            return duration_ms(v)
        if (name.endswith(("_s", " s", "(s)", "seconds")) and not name.endswith(("per_s", "/s", "per s"))):
            return duration(v)
    return number(v)


def readable(frame):
    """A copy of a DataFrame with every cell as text through :func:`value` (by column), index kept; for showing."""
    out = frame.copy().astype(object)
    for col in frame.columns:
        label = " ".join(map(str, col)) if isinstance(col, tuple) else str(col)
        out[col] = [value(v, label) for v in frame[col]]
    if getattr(frame.index, "dtype", None) is not None and frame.index.dtype.kind == "f":
        out.index = [number(v) for v in frame.index]
    return out


def scroll_box(fragment: str, css_class: str = "wb-scroll") -> str:
    """``fragment`` (a table) inside a box that scrolls sideways, so it never pushes its page or widget wider."""
    return f'<div class="{html.escape(css_class, quote=True)}" style="{SCROLL_STYLE}">{fragment}</div>'


def frame_html(frame, classes: str = "", *, index: bool = True, css_class: str = "wb-scroll") -> str:
    """A DataFrame as an HTML table with readable cells (:func:`readable`), in a :func:`scroll_box`."""
    if frame is None or frame.empty:
        return "<i>No rows.</i>"
    table = readable(frame).to_html(classes=classes or None, border=0, index=index, escape=True, na_rep=DASH)
    return scroll_box(table, css_class)


def finish_note(reason: str | None, completion_tokens: int | None = None) -> str:
    """Why generation ended, in words for a status line; "" when the model simply finished its answer.

    "length" alone told nobody that the answer was cut off, or what to change.
    """
    if reason == "length":
        n = f" ({completion_tokens} tokens)" if completion_tokens else ""
        return f"stopped at the token limit{n}: raise max new tokens"
    if reason == "cancelled":
        return "stopped early (Stop)"
    return "" if reason in (None, "", "stop") else str(reason)

