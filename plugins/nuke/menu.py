"""genplate's Nuke menus: the genplate menu, the node in the Nodes toolbar, the docked panel.

Nuke runs menu.py only in GUI sessions; the check below keeps it harmless anywhere else. Any
failure prints its traceback and leaves Nuke's start alone.
"""


def _genplate_menus():
    import sys
    import traceback

    try:
        import nuke

        if not nuke.env.get("gui"):
            return
        from genplate.nuke.menus import install

        install()
    except Exception:
        traceback.print_exc()
        sys.stderr.write("genplate: menus not installed (see the error above); "
                         "Nuke starts without them.\n")


_genplate_menus()
del _genplate_menus
