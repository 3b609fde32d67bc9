"""The Nuke fake's ``nukescripts``: panels as Foundry's nukescripts/panels.py writes them.

``build_nukescripts(nuke, rec, PyCustom_Knob)`` makes the module for one fake ``nuke``
(tests/fake_nuke.py). Foundry's pyui.Dialog underneath is left out; what matters to genplate
is kept: the widget string evaluated into a WidgetKnob, restorePanel calling the registered
command, and addToPane adding to the given pane or else to nuke.thisPane().
"""
from __future__ import annotations

import builtins
import traceback
import types
from typing import Any, Callable, Optional

def build_nukescripts(nuke: types.ModuleType, rec: Any,
                      PyCustom_Knob: type) -> types.ModuleType:  # noqa: N803
    """nukescripts.panels as Foundry's nukescripts/panels.py writes it (2009-), less pyui."""
    nukescripts = types.ModuleType("nukescripts")
    panels = types.ModuleType("nukescripts.panels")
    registry: dict[str, Callable] = {}
    panels.registry = registry

    def registerPanel(id: str, command: Callable) -> None:  # noqa: A002,N802
        registry[id] = command

    def restorePanel(id: str) -> Any:  # noqa: A002,N802
        try:
            return registry[id]()
        except Exception:  # Foundry's bare except: a failure is printed, None returned
            print("Can't restore panel '", id, "' because it hasn't been registered.")
            traceback.print_exc()
            return None

    class WidgetKnob:
        def __init__(self, widget: Any) -> None:
            self.widgetClass = widget

        def makeUI(self) -> Any:  # noqa: N802
            self.widget = self.widgetClass()
            return self.widget

    class PythonPanel:
        def __init__(self, title: str = "", id: str = "", scrollable: bool = True) -> None:  # noqa: A002
            self._title, self._id = title, id
            self._knobs: list[Any] = []
            self._widgets: Optional[list[Any]] = None

        def addKnob(self, knob: Any) -> None:  # noqa: N802
            self._knobs.append(knob)

        def knobs(self) -> dict[str, Any]:
            return {k.name(): k for k in self._knobs}

        def create(self) -> None:
            # Nuke builds a PyCustom_Knob's UI by evaluating its command and calling makeUI on
            # the result. The command is evaluated where no package name is bound (hosts.md
            # §9; tk-nuke's panels.py writes `__import__('sgtk')...` "to safely refer to" its
            # class), so the fake evaluates it with nothing but builtins.
            if self._widgets is not None:
                return
            self._widgets = []
            for knob in self._knobs:
                if isinstance(knob, PyCustom_Knob):
                    obj = eval(knob.command(), {"__builtins__": builtins})
                    knob._object = obj
                    widget = obj.makeUI()
                    rec.calls.append(("panel.build", self._id, type(widget).__name__))
                    self._widgets.append(widget)

        def widgets(self) -> list[Any]:
            return list(self._widgets or [])

        def addToPane(self, pane: Any = None) -> "PythonPanel":  # noqa: N802
            self.create()
            if pane is not None:
                pane.add(self)
            elif nuke.thisPane() is not None:
                nuke.thisPane().add(self)
            return self

        def show(self) -> None:
            self.create()
            rec.calls.append(("panel.show", self._id))

    def registerWidgetAsPanel(widget: str, name: str, id: str, create: bool = False) -> Any:  # noqa: A002,N802
        class Panel(PythonPanel):
            def __init__(self, widget: str, name: str, id: str) -> None:  # noqa: A002
                PythonPanel.__init__(self, name, id)
                self.customKnob = PyCustom_Knob(
                    name, "", "__import__('nukescripts').panels.WidgetKnob(" + widget + ")")
                self.addKnob(self.customKnob)

        def addPanel() -> PythonPanel:  # noqa: N802
            return Panel(widget, name, id).addToPane()

        rec.calls.append(("registerWidgetAsPanel", widget, name, id, create))
        nuke.menu("Pane").addCommand(name, addPanel)
        registerPanel(id, addPanel)
        return Panel(widget, name, id) if create else None

    for value in (registerPanel, restorePanel, WidgetKnob, PythonPanel, registerWidgetAsPanel):
        setattr(panels, value.__name__, value)
    nukescripts.panels = panels
    nukescripts.registerWidgetAsPanel = registerWidgetAsPanel
    nukescripts.PythonPanel = PythonPanel
    return nukescripts


__all__ = ["build_nukescripts"]
