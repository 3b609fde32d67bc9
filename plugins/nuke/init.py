"""genplate's Nuke startup. Runs in every session - GUI, `nuke -t`, render farm - so no UI here.

It makes ``genplate.nuke`` and ``genplate.panel`` importable in Nuke's own Python from this
folder and its sibling ``panel`` folder (Nuke's Python has none of the engine's packages, and
needs none). Menus and the panel are menu.py's, which Nuke runs only with a GUI. Any failure
prints its traceback and leaves Nuke's start alone.
"""


def _genplate_startup():
    import sys
    import traceback

    try:
        import importlib.util
        import os
        import types

        here = None
        try:
            here = os.path.dirname(os.path.abspath(__file__))  # noqa: F821 (set when run as a file)
        except NameError:
            # sys._getframe, not inspect: inspect would import ast, dis and tokenize here.
            getframe = getattr(sys, "_getframe", None)
            filename = getframe(0).f_code.co_filename if getframe is not None else ""
            if filename and os.path.isfile(filename):
                here = os.path.dirname(os.path.abspath(filename))
        if here is None or not os.path.isfile(os.path.join(here, "read.py")):
            # Nuke ran us without a file name: pluginAddPath put our folder on sys.path.
            here = next((p for p in sys.path if os.path.isfile(os.path.join(p, "read.py"))
                         and os.path.isfile(os.path.join(p, "node.py"))), None)
        if here is None:
            raise RuntimeError("genplate: cannot find its plugin folder")
        folders = {"panel": os.path.join(os.path.dirname(here), "panel"), "nuke": here}

        if "genplate" not in sys.modules:
            package = types.ModuleType("genplate")
            package.__path__ = []
            package.__package__ = "genplate"
            sys.modules["genplate"] = package
        package = sys.modules["genplate"]
        for sub in ("panel", "nuke"):
            full = "genplate." + sub
            folder = folders[sub]
            existing = sys.modules.get(full)
            if existing is not None and [os.path.abspath(p) for p in
                                         getattr(existing, "__path__", [])] == [folder]:
                continue
            if not os.path.isfile(os.path.join(folder, "__init__.py")):
                raise RuntimeError(f"genplate: {folder} is missing; reinstall with "
                                   f"`genplate install nuke`")
            spec = importlib.util.spec_from_file_location(
                full, os.path.join(folder, "__init__.py"), submodule_search_locations=[folder])
            module = importlib.util.module_from_spec(spec)
            sys.modules[full] = module
            spec.loader.exec_module(module)
            setattr(package, sub, module)
    except Exception:
        traceback.print_exc()
        sys.stderr.write("genplate: not loaded in this session (see the error above); "
                         "Nuke starts without it.\n")


_genplate_startup()
del _genplate_startup
