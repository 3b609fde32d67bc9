"""The genplate panel docked in Nuke (registered by menu.py through registerWidgetAsPanel).

Nuke builds the widget from this dotted class path with no arguments, and saved layouts
restore it by the panel id, so the class takes no required arguments.
"""
from __future__ import annotations

from genplate.panel.panel import GenplatePanel

from .adapter import NukeAdapter

PANEL_ID = "com.genplate.panel"
PANEL_TITLE = "genplate"
WIDGET_PATH = "genplate.nuke.dock.DockPanel"


class DockPanel(GenplatePanel):
    def __init__(self, parent=None) -> None:
        super().__init__(NukeAdapter(), parent=parent)


__all__ = ["DockPanel", "PANEL_ID", "PANEL_TITLE", "WIDGET_PATH"]
