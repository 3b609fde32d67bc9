"""What menu.py installs in a GUI session: menus, the toolbar node, the dock panel.

Installing costs Nuke's start only what it names: every menu command is a string that imports
its module when clicked, and the panel is registered by the string that builds it, so neither
Qt nor the panel, the node or the engine is imported, started or asked anything at start
(bench/bench_nuke_start.py measures it).
"""
from __future__ import annotations

import nuke

MENU = "genplate"
PANEL_ID = "com.genplate.panel"
PANEL_TITLE = "genplate"
# nukescripts evaluates this where no package name is bound: dock.py says why it imports itself.
WIDGET_PATH = "__import__('genplate.nuke.dock', fromlist=['DockPanel']).DockPanel"


def install() -> dict:
    """Install the menus and register the panel; returns what was added (for tests/logs)."""
    if not nuke.env.get("gui"):
        return {}
    import nukescripts.panels

    menu = nuke.menu("Nuke").addMenu(MENU)
    menu.addCommand("Generate node", "import genplate.nuke.node as _g; _g.create()")
    menu.addCommand("Show panel", "import genplate.nuke.menus as _m; _m.show_panel()")
    menu.addCommand("Colour take versions",
                    "import genplate.nuke.read as _r; _r.colour_versions()")
    menu.addCommand("Resume following jobs",
                    "import genplate.nuke.menus as _m; _m.resume_nodes()")
    nodes = nuke.menu("Nodes").addMenu(MENU)
    nodes.addCommand("genplate generate", "import genplate.nuke.node as _g; _g.create()")
    nukescripts.panels.registerWidgetAsPanel(WIDGET_PATH, PANEL_TITLE, PANEL_ID)
    add_on_load = getattr(nuke, "addOnScriptLoad", None)
    if add_on_load is not None:
        add_on_load(resume_nodes)
    return {"menu": MENU, "panel": PANEL_ID}


def show_panel():
    """Open the dock panel in the Properties pane (or float it when there is none).

    Not ``restorePanel(id).addToPane(pane)``: restorePanel runs the registered command, which
    already adds the panel to a pane (nukescripts/panels.py), so that built and added it twice.
    registerWidgetAsPanel(..., create=True) hands back a panel that is on no pane yet.
    """
    import nukescripts.panels

    pane = nuke.getPaneFor("Properties.1") if hasattr(nuke, "getPaneFor") else None
    panel = nukescripts.panels.registerWidgetAsPanel(WIDGET_PATH, PANEL_TITLE, PANEL_ID, True)
    if pane is None:
        panel.show()
        return panel
    return panel.addToPane(pane)


def resume_nodes() -> int:
    """Pick up jobs that generate nodes were following when the script was last saved.

    The engine's workers kept running while Nuke was closed; this only starts following again.
    """
    from . import node as N

    resumed = 0
    for group in nuke.allNodes("Group", recurseGroups=True):
        if N.is_generate_node(group) and N._jobs(group):
            N.on_refresh(group)
            resumed += 1
    return resumed


__all__ = ["install", "show_panel", "resume_nodes", "MENU", "PANEL_ID", "PANEL_TITLE",
           "WIDGET_PATH"]
