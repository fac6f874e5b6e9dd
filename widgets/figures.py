"""A plotly figure shown in a view, drawn by the browser from the output itself.

Not a ``go.FigureWidget``: that is an anywidget whose front end (a 5 MB module) each figure compiles when it first
shows, and whose traces and layout reach the browser in messages sent after the widget opens. When the view was
shown before that module was ready (the first figures on a busy machine), it drew from the opening state, which has
no traces: empty axes (issue #20, notebook 05). Here the figure is the output's plotly mime bundle from the start,
so there is nothing to arrive late; the kernel-side figure stays on ``.figure`` for code and tests.
"""

from __future__ import annotations

import ipywidgets as W

__all__ = ["FigureView"]


class FigureView(W.Output):
    """``FigureView(fig)`` shows ``fig`` (a ``go.Figure``) once; ``.figure`` is that figure."""

    def __init__(self, figure, **kw):
        import plotly.io as pio

        bundle = pio.renderers["plotly_mimetype"].to_mimebundle(figure.to_dict())
        title = figure.layout.title.text or "plotly figure"
        bundle["text/plain"] = f"<Figure: {title}>"
        super().__init__(outputs=({"output_type": "display_data", "data": bundle, "metadata": {}},), **kw)
        self.figure = figure
