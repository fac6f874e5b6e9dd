"""The one number formatter (durations, significant digits, missing values), wide tables in a scrolling box,
and the demo report's page kept to its width."""

import math
import re

import pandas as pd
import pytest

from workbench.formatting import (
    DASH,
    duration,
    duration_ms,
    finish_note,
    frame_html,
    number,
    readable,
    scroll_box,
    value,
)

RAW = re.compile(r"\d[eE][+-]\d|\d\.\d{4,}|\bNone\b|\bnan\b|\bNaN\b")  # what a person should never read


@pytest.mark.parametrize(("seconds", "text"), [
    (0, "0 ms"), (0.0004, "0.4 ms"), (0.3664, "366 ms"), (0.9996, "1.0 s"), (4.23, "4.2 s"), (9.96, "10 s"),
    (78.8, "79 s"), (99.6, "1 min 40 s"), (185, "3 min 5 s"), (120, "2 min"), (3599.6, "1 h"),
    (8040, "2 h 14 min"), (-2.5, "-2.5 s"), (None, DASH), (math.nan, DASH),
])
def test_duration_in_the_unit_a_person_says(seconds, text):
    assert duration(seconds) == text


def test_duration_ms_and_the_issue_examples():
    assert duration_ms(7.88e4) == "79 s" and duration_ms(366443.920374) == "6 min 6 s" and duration_ms(366) == "366 ms"
    assert duration_ms(None) == DASH and duration_ms(float("nan")) == DASH


@pytest.mark.parametrize(("v", "text"), [
    (None, DASH), (math.nan, DASH), (pd.NA, DASH), (True, "yes"), (False, "no"), (0, "0"), (-0.0, "0"),
    (3.0, "3"), (3.14159, "3.14"), (0.5, "0.5"), (12.345, "12.3"), (999.7, "1,000"), (78812.3, "78,812"),
    (1234, "1,234"), (0.0000123, "0.0000123"), (-0.0421, "-0.0421"), (math.inf, "∞"), ("text", "text"),
])
def test_number_three_significant_digits_no_exponents(v, text):
    assert number(v) == text


def test_number_signed_and_numpy():
    import numpy as np

    assert number(0.05, signed=True) == "+0.05" and number(-0.05, signed=True) == "-0.05"
    assert number(np.float64(2.5)) == "2.5" and number(np.int64(12345)) == "12,345"
    assert number(np.bool_(True)) == "yes" and number(np.nan) == DASH


def test_value_chooses_by_column_name():
    assert value(78812.3, "latency_ms") == "79 s" and value(78812.3, "latency ms") == "79 s"
    assert value(185.0, "wall_s") == "3 min 5 s" and value(12.3456, "tokens_per_s") == "12.3"
    assert value(12.3456, "tokens/s") == "12.3" and value(["a", "b"]) == "a, b" and value([]) == DASH
    assert value(None, "latency_ms") == DASH and value(True, "safety_handled") == "yes"


def test_readable_frame_and_html_have_no_raw_floats_or_none():
    frame = pd.DataFrame({"tbars_mean": [3.1666666, None], "latency_ms": [78812.34, 366443.920374],
                          "citation_precision": [None, None], "n": [3, 12345]}, index=["base", "rag"])
    shown = readable(frame)
    assert list(shown.loc["base"]) == ["3.17", "79 s", DASH, "3"]
    assert list(shown.loc["rag"]) == [DASH, "6 min 6 s", DASH, "12,345"]
    out = frame_html(frame, "wb-x")
    assert not RAW.search(re.sub(r"<[^>]+>", " ", out)), out
    assert out.startswith('<div class="wb-scroll" style="overflow-x:auto;max-width:100%">') and "wb-x" in out
    assert frame_html(pd.DataFrame()) == "<i>No rows.</i>"
    assert scroll_box("<table></table>", "a'b") == \
        '<div class="a&#x27;b" style="overflow-x:auto;max-width:100%"><table></table></div>'


def test_finish_note_says_what_to_do():
    assert finish_note("length", 192) == "stopped at the token limit (192 tokens): raise max new tokens"
    assert finish_note("stop", 10) == "" and finish_note(None) == "" and "Stop" in finish_note("cancelled")


def test_report_tables_scroll_and_the_page_is_bounded():
    from workbench.report import Report
    from workbench.results import summary_frame

    wide = {"configs": {c: {"tbars_mean": 3.25, "dimensions": {f"dimension_{i}": 2.0 + i / 7 for i in range(12)},
                            "diff_vs_base": {"mean": 0.1234567, "ci_low": None, "ci_high": None},
                            "latency_ms": 366443.920374, "tokens_per_s": 15.5555, "citation_precision": None,
                            "safety_handled": None, "n": 3} for c in ("base", "rag")}}
    page = Report("t").table(summary_frame(wide)).html()
    body_css = re.search(r"body\{[^}]*\}", page).group(0)
    assert "max-width:980px" in body_css
    assert ".wb-scroll" in page and "overflow-x:auto" in page and "overflow-wrap:anywhere" in page
    table = page[page.index('<div class="wb-scroll"'):]
    assert table.index("<table") < table.index("</div>")  # the table sits inside the scrolling box
    assert not RAW.search(re.sub(r"<[^>]+>", " ", table[:table.index("</table>")]))
    assert "6 min 6 s" in table and DASH in table
