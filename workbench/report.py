"""Self-contained HTML reports: prose, tables and plotly figures in one file that opens offline."""

from __future__ import annotations

import html
import time
from pathlib import Path

from workbench.io import write_text

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;max-width:980px;margin:2rem auto;padding:0 1rem;
color:#1f2933;line-height:1.5}
h1{font-size:1.6rem;margin-bottom:.2rem}h2{font-size:1.2rem;margin-top:2rem;border-bottom:1px solid #d9e2ec}
.meta{color:#627d98;font-size:.9rem}.q{background:#f0f4f8;border-left:4px solid #486581;padding:.6rem .9rem}
.a{background:#fff;border-left:4px solid #27ab83;padding:.6rem .9rem;white-space:pre-wrap}
table{border-collapse:collapse;font-size:.9rem}td,th{border:1px solid #d9e2ec;padding:.3rem .6rem;text-align:left}
.note{font-size:.85rem;color:#7b8794}
"""


class Report:
    """Collect sections, then ``write`` one HTML file; plotly.js is inlined once."""

    def __init__(self, title: str, subtitle: str = ""):
        self.title, self.subtitle = title, subtitle
        self.parts: list[str] = []
        self._plotly_inlined = False

    def heading(self, text: str) -> "Report":
        self.parts.append(f"<h2>{html.escape(text)}</h2>")
        return self

    def text(self, text: str, cls: str = "") -> "Report":
        attr = f' class="{cls}"' if cls else ""
        self.parts.append(f"<p{attr}>{html.escape(text)}</p>")
        return self

    def exchange(self, question: str, answer: str, meta: str = "") -> "Report":
        self.parts.append(f'<div class="q">{html.escape(question)}</div>')
        self.parts.append(f'<div class="a">{html.escape(answer)}</div>')
        if meta:
            self.parts.append(f'<p class="meta">{html.escape(meta)}</p>')
        return self

    def table(self, rows: list[dict]) -> "Report":
        if not rows:
            return self
        cols = list(rows[0])
        head = "".join(f"<th>{html.escape(str(c))}</th>" for c in cols)
        body = "".join(
            "<tr>" + "".join(f"<td>{html.escape(str(r.get(c, '')))}</td>" for c in cols) + "</tr>" for r in rows
        )
        self.parts.append(f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")
        return self

    def figure(self, fig) -> "Report":
        self.parts.append(fig.to_html(full_html=False, include_plotlyjs=not self._plotly_inlined))
        self._plotly_inlined = True
        return self

    def html(self) -> str:
        stamp = time.strftime("%Y-%m-%d %H:%M")
        return (
            f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(self.title)}</title>"
            f"<style>{_CSS}</style></head><body><h1>{html.escape(self.title)}</h1>"
            f"<p class='meta'>{html.escape(self.subtitle)} · generated {stamp}</p>"
            + "\n".join(self.parts)
            + "</body></html>"
        )

    def write(self, path: str | Path) -> Path:
        return write_text(path, self.html())
