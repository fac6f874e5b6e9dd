"""Keyboard shortcuts for a view: ipywidgets has no key events, so a small anywidget listens.

The listener sits inside the view and attaches to its nearest ancestor with the CSS class given
(``scope``). Keys pressed while focus is anywhere in that part of the page (after a click on it)
go to Python as messages; keys typed into a text box or text area are left alone, and so are
combinations with Ctrl, Alt or Meta. The scope is marked ``data-lm-suppress-shortcuts`` so that
JupyterLab's own single-key commands (``a``, ``b``, ``1``… in command mode) do not fire there.
"""

from __future__ import annotations

from collections.abc import Callable

import anywidget
import traitlets

__all__ = ["KeyListener"]

_ESM = """
function render({ model, el }) {
  el.classList.add("wb-keys");
  el.style.cssText = "font-size:12px;color:#627d98";
  el.textContent = model.get("hint");
  let scope = null;
  const onKey = (e) => {
    const t = e.target;
    if (e.ctrlKey || e.altKey || e.metaKey) return;
    if (t && t.closest && t.closest("textarea, input, select, [contenteditable='true']")) return;
    if (!model.get("shortcuts").includes(e.key)) return;
    e.preventDefault();
    e.stopPropagation();
    model.send({ key: e.key });
  };
  const attach = (tries) => {
    scope = el.closest("." + model.get("scope"));
    if (!scope) {
      if (tries > 0) setTimeout(() => attach(tries - 1), 50);
      return;
    }
    scope.setAttribute("data-lm-suppress-shortcuts", "true");
    if (!scope.hasAttribute("tabindex")) scope.tabIndex = 0;
    scope.addEventListener("keydown", onKey);
  };
  attach(100);
  return () => { if (scope) scope.removeEventListener("keydown", onKey); };
}
export default { render };
"""


class KeyListener(anywidget.AnyWidget):
    """Sends each listed key pressed inside ``scope`` to ``handler(key)``; shows ``hint`` as a line of text."""

    _esm = _ESM
    shortcuts = traitlets.List(traitlets.Unicode()).tag(sync=True)  # (Widget.keys is taken)
    scope = traitlets.Unicode().tag(sync=True)
    hint = traitlets.Unicode().tag(sync=True)

    def __init__(self, handler: Callable[[str], None], keys, scope: str, hint: str = ""):
        super().__init__(shortcuts=list(keys), scope=scope, hint=hint)
        self.on_msg(lambda _w, content, _buffers: self._dispatch(handler, content))

    @staticmethod
    def _dispatch(handler, content) -> None:
        key = content.get("key") if isinstance(content, dict) else None
        if isinstance(key, str):
            handler(key)
