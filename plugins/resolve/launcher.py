"""genplate for DaVinci Resolve: Workspace > Scripts > genplate.

`genplate install resolve` copies this file into Resolve's Fusion/Scripts/Utility folder (so it
shows on every page) with ENGINE_PYTHON filled in. Resolve runs it in its own Python, which may
be old and has none of genplate's packages; so this script only starts genplate's panel in
genplate's own Python (`<engine python> -m genplate.resolve.panel_main`) and returns at once,
leaving Resolve free. It passes on the product name Resolve reports, so the panel can tell the
free edition (which cannot be scripted from outside) from Studio with scripting switched off.

Deliberately plain Python (no annotations, no newer syntax): Resolve's interpreter may be 3.6.
"""
import os
import subprocess
import sys
import tempfile

ENGINE_PYTHON = ""  # written by `genplate install resolve`
ENGINE_ENV = {}  # written by `genplate install resolve`: GENPLATE_DATA_DIR, OCIO if set then


def resolve_app():
    """The Resolve object this script was given (Resolve injects `resolve`/`bmd`), or None."""
    app = globals().get("resolve")
    if app is None and "bmd" in globals():
        try:
            app = globals()["bmd"].scriptapp("Resolve")
        except Exception:
            app = None
    return app


def product_and_version(app):
    if app is None:
        return "", ""
    try:
        return str(app.GetProductName() or ""), str(app.GetVersionString() or "")
    except Exception:
        return "", ""


def panel_command(python, product, version):
    argv = [python, "-m", "genplate.resolve.panel_main"]
    if product:
        argv += ["--product", product]
    if version:
        argv += ["--version", version]
    return argv


def panel_environment(base=None):
    env = dict(os.environ if base is None else base)
    # Resolve points these at its own interpreter; genplate's venv must not inherit them.
    for name in ("PYTHONHOME", "PYTHONPATH"):
        env.pop(name, None)
    env.update(ENGINE_ENV)
    env.setdefault("PYTHONIOENCODING", "utf-8")
    return env


def main():
    if not ENGINE_PYTHON or not os.path.exists(ENGINE_PYTHON):
        print("genplate: the engine's Python was not found (%r); run `genplate install resolve` "
              "again from genplate's environment" % (ENGINE_PYTHON,))
        return 1
    product, version = product_and_version(resolve_app())
    log_path = os.path.join(tempfile.gettempdir(), "genplate_resolve_panel.log")
    log = open(log_path, "ab")
    kwargs = {"env": panel_environment(), "stdin": subprocess.DEVNULL, "stdout": log,
              "stderr": log, "close_fds": True}
    if sys.platform.startswith("win"):
        kwargs["creationflags"] = 0x00000008 | 0x00000200  # DETACHED_PROCESS | NEW_PROCESS_GROUP
    else:
        kwargs["start_new_session"] = True
    try:
        subprocess.Popen(panel_command(ENGINE_PYTHON, product, version), **kwargs)
    except OSError as exc:
        print("genplate: could not start the panel: %s" % (exc,))
        return 1
    finally:
        log.close()
    print("genplate: panel starting (log: %s)" % (log_path,))
    return 0


# Run when Resolve executes the installed copy, never when genplate imports this template.
if __name__ != "genplate.resolve.launcher":
    main()
