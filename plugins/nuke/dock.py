"""The genplate panel docked in Nuke (registered by menu.py through registerWidgetAsPanel).

nukescripts pastes WIDGET_PATH into ``__import__('nukescripts').panels.WidgetKnob(<it>)`` and
evaluates that where no package name is bound (nukescripts/panels.py; hosts.md §9), so the
string imports its own module, as tk-nuke's panels.py does; a bare dotted path is a NameError
and an empty panel. Nuke then builds the class with no arguments, and saved layouts restore
it by the panel id, so the class takes no required arguments.
"""
from __future__ import annotations

from genplate.panel.panel import GenplatePanel

from .adapter import NukeAdapter
# The names live with the menus, which Nuke's start imports without this module (and its Qt).
from .menus import PANEL_ID, PANEL_TITLE, WIDGET_PATH


class DockPanel(GenplatePanel):
    def __init__(self, parent=None) -> None:
        super().__init__(NukeAdapter(), parent=parent)


__all__ = ["DockPanel", "PANEL_ID", "PANEL_TITLE", "WIDGET_PATH"]
