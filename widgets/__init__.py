"""ipywidgets views: each builds controls, calls one workbench function, and shows its result."""

__all__: list[str] = []
