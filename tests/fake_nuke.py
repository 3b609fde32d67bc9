"""A recording fake of Nuke's `nuke` and `nukescripts` modules, held to what Nuke really does.

No Nuke runs here. Each behaviour below follows a record of the real thing, named beside it:
Foundry's own Python sources (``nuke_internal/executeInMain.py``, ``nuke/colorspaces.py``,
``nukescripts/panels.py``), Foundry's API docs, the unofficial ``types-nuke`` stubs (Nuke 13.2;
tests/test_nuke_fake.py holds every public function and knob class here to their signatures),
and production code (ynput/ayon-nuke, shotgunsoftware/tk-nuke). Where no record says which
of two answers Nuke gives, the fake says so and genplate is built for both.

Where Nuke 16 differs from the 13.2 stubs, as far as the records go: Nuke 16 ships PySide6
(Nuke 15 and older PySide2; hosts.md §0); from Nuke 17.1 the API is pybind11-built and documents
``Undo.begin(name=None)`` and ``Undo.cancel()`` as "safe to call when no group is open"
(learn.foundry.com/nuke/developers/17.1, nuke.Undo), and ProgressTask takes ``maximum`` and
flags (hosts.md §2.3). No difference is recorded for the other calls genplate makes; the form of
``getColorspaceList`` on 16/17 is open (hosts.md §9) and `python -m genplate.nuke.smoke` reports it.

``install(config="aces_1.3", gui=True, version=16, list_form="recorded")`` puts fresh fakes into
sys.modules and returns the nuke module; ``uninstall()`` removes them. Attributes of the fake
module named in FAKE_HELPERS are the tests' handles, not Nuke's API.
"""
from __future__ import annotations

import os
import queue
import re
import struct
import sys
import threading
import traceback
import types
import zlib
from pathlib import Path
from typing import Any, Callable, Optional

from fake_nuke_colour import CONFIGS, LIST_FORMS, colorspace_entries, knob_values
from fake_nuke_knobs import TclError, knob_classes, tcl_substitute
from fake_nuke_panels import build_nukescripts

# The fake module's own handles for tests (everything else public is Nuke's API, stub-checked).
FAKE_HELPERS = frozenset({"recorder", "config", "list_form", "run_main_queue", "menus",
                          "on_script_load", "plugin_paths", "panes", "this_pane"})


# -- the recording ------------------------------------------------------------------------

class Recorder:
    """Everything the fake saw, in order, and the undo groups it built."""

    def __init__(self, main_thread: threading.Thread) -> None:
        self.main_thread = main_thread
        self.calls: list[tuple] = []
        self.off_main: list[str] = []
        self.undo_stack: list[dict] = []      # open undo groups
        self.undo_groups: list[dict] = []     # closed ones: {"name", "changes": [...]}
        self.cancelled_groups: list[dict] = []
        self.main_queue: "queue.Queue[tuple]" = queue.Queue()
        self.main_errors: list[str] = []      # exceptions Nuke's loop printed
        self.executed: list[tuple] = []

    def change(self, what: str, undo: Optional[Callable[[], None]] = None) -> None:
        on_main = threading.current_thread() is self.main_thread
        self.calls.append(("change", what, on_main))
        if not on_main:
            self.off_main.append(what)
        if self.undo_stack:
            self.undo_stack[-1]["changes"].append(what)
            self.undo_stack[-1]["undo"].append(undo)


def _png(path: Path, w: int = 8, h: int = 8) -> None:
    raw = b"".join(b"\x00" + b"\x80\x40\x20" * w for _ in range(h))

    def chunk(t: bytes, d: bytes) -> bytes:
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xFFFFFFFF)

    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
                     + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def _uncollide(name: str, taken: set[str]) -> str:
    """Nuke's collision rule as its docstring gives it ("resolve name collisions"): the exact
    renaming is not recorded; the fake counts up a trailing number, keeping its width
    (Read1 -> Read2, x_v001 -> x_v002): the renaming genplate must never leave to Nuke."""
    if name not in taken:
        return name
    match = re.match(r"^(.*?)(\d*)$", name)
    base, digits = match.group(1), match.group(2)
    n = int(digits) + 1 if digits else 1
    while f"{base}{n:0{len(digits)}d}" in taken:
        n += 1
    return f"{base}{n:0{len(digits)}d}"


def build(config: str = "aces_1.3", gui: bool = True, version: int = 16,
          main_thread: Optional[threading.Thread] = None,
          list_form: str = "recorded") -> tuple[types.ModuleType, types.ModuleType]:
    """A fresh (nuke, nukescripts) pair sharing one recorder."""
    if list_form not in LIST_FORMS:
        raise ValueError(f"list_form must be one of {LIST_FORMS}")
    nuke = types.ModuleType("nuke")
    nuke.__file__ = "<fake nuke>"
    rec = Recorder(main_thread or threading.main_thread())
    nuke.recorder = rec
    nuke.config = CONFIGS[config]
    nuke.list_form = list_form
    nuke.NUKE_VERSION_MAJOR = version
    nuke.NUKE_VERSION_MINOR = 0
    nuke.NUKE_VERSION_RELEASE = 1
    nuke.NUKE_VERSION_STRING = f"{version}.0v1"
    nuke.GUI = gui
    nuke.env = {"gui": gui, "NukeVersionMajor": version, "ExecutablePath": "/opt/Nuke/Nuke"}
    nuke.INVISIBLE = 0x400
    nuke.STARTLINE = 0x1000
    nuke.ENDLINE = 0x2000
    nuke.DISABLED = 0x80
    nuke.NO_ANIMATION = 0x100
    nuke.NO_UNDO = 0x200
    nuke.STRIP_CASCADE_PREFIX = 0x8000
    nuke.plugin_paths = []
    nuke._frame = 1001

    K = knob_classes(nuke, rec)
    for name, cls in K.items():
        if not name.startswith("_"):
            setattr(nuke, name, cls)
    Knob, Int_Knob, Double_Knob, Boolean_Knob = K["Knob"], K["Int_Knob"], K["Double_Knob"], K["Boolean_Knob"]
    String_Knob, File_Knob, ColorChip_Knob = K["String_Knob"], K["File_Knob"], K["ColorChip_Knob"]
    Enumeration_Knob, _ColorspaceKnob = K["Enumeration_Knob"], K["_ColorspaceKnob"]

    # -- nodes ------------------------------------------------------------------------

    def _enum(name: str, label: str, values: list[str]) -> Enumeration_Knob:
        return Enumeration_Knob(name, label, values)

    KNOBS: dict[str, Callable[[], list]] = {
        "Read": lambda: [File_Knob("file"), Int_Knob("first"), Int_Knob("last"),
                         Int_Knob("origfirst"), Int_Knob("origlast"), Boolean_Knob("origset"),
                         _enum("frame_mode", "frame mode", ["expression", "start at", "offset"]),
                         String_Knob("frame"),
                         _enum("before", "before", ["hold", "loop", "bounce", "black"]),
                         _enum("after", "after", ["hold", "loop", "bounce", "black"]),
                         _enum("on_error", "missing frames",
                               ["error", "black", "checkerboard", "nearest frame"]),
                         _ColorspaceKnob(), Boolean_Knob("raw"),
                         Boolean_Knob("premultiplied"), Boolean_Knob("auto_alpha")],
        "Write": lambda: [File_Knob("file"),
                          _enum("file_type", "file type", ["", "exr", "png", "jpeg", "tiff"]),
                          _enum("datatype", "data type", ["8 bit", "16 bit"]),
                          _ColorspaceKnob(), Boolean_Knob("raw"),
                          Boolean_Knob("create_directories"), Int_Knob("first"),
                          Int_Knob("last"), Boolean_Knob("use_limit")],
        "OCIODisplay": lambda: [
            _enum("display", "display", list(nuke.config["displays"])),
            _enum("view", "view", sorted({v for vs in nuke.config["displays"].values() for v in vs})),
            _enum("colorspace", "input", ["default", *nuke.config["roles"], *nuke.config["spaces"]])],
        "Viewer": lambda: [_enum("viewerProcess", "view", [
            f"{v} ({d})" for d, vs in nuke.config["displays"].items() for v in vs] + ["None"]),
            _enum("monitorOutOutputTransform", "output", ["None"])],
        "Root": lambda: [String_Knob("name"), Int_Knob("first_frame", value=1001),
                         Int_Knob("last_frame", value=1100), Double_Knob("fps", value=24.0),
                         _enum("colorManagement", "color management", ["Nuke", "OCIO"]),
                         String_Knob("OCIO_config"), File_Knob("customOCIOConfigPath"),
                         String_Knob("workingSpaceLUT"), String_Knob("monitorLut"),
                         String_Knob("int8Lut"), String_Knob("floatLut")],
    }

    class Node:
        def __init__(self, cls: str = "Node", parent: Optional["Group"] = None) -> None:
            self._class = cls
            self._parent = parent
            taken = {n.name() for n in parent._children} if parent is not None else set()
            self._name = _uncollide(f"{cls}1", taken)
            self._knobs: dict[str, Knob] = {}
            self._order: list[str] = []
            self._inputs: dict[int, Optional[Node]] = {}
            self._max_inputs = 1
            self._children: list[Node] = []
            self._deleted = False
            self._knobs_changed: list[str] = []
            for knob in [String_Knob("name", value=self._name), String_Knob("label"),
                         ColorChip_Knob("tile_color"), Int_Knob("xpos"), Int_Knob("ypos"),
                         Boolean_Knob("selected"), Boolean_Knob("disable")] + \
                    KNOBS.get(cls, lambda: [])():
                self._attach(knob)

        def _attach(self, knob: Knob) -> None:
            knob._node = self
            if knob.name() not in self._knobs:
                self._order.append(knob.name())
            self._knobs[knob.name()] = knob

        def _knob_changed(self, knob: Knob) -> None:
            self._knobs_changed.append(knob.name())
            if knob.name() == "name":
                self._name = knob._value

        def Class(self) -> str:  # noqa: N802
            return self._class

        def name(self) -> str:
            return self._name

        def parent(self) -> Optional["Group"]:
            return self._parent

        def fullName(self) -> str:  # noqa: N802
            if self._parent is not None and self._parent is not nuke._root:
                return f"{self._parent.fullName()}.{self._name}"
            return self._name

        def setName(self, name: str, uncollide: bool = True,  # noqa: N802,N803
                    updateExpressions: bool = False) -> None:
            """types-nuke ``setName(name, uncollide=..., updateExpressions=...)``; Nuke's
            docstring: "resolve name collisions if ... 'uncollide' is True. Defaults to True".
            Any other keyword (``uniquify``) is a TypeError, as in Python. What Nuke does on a
            collision with uncollide=False is not recorded: the fake refuses (ValueError)."""
            parent = self._parent or nuke._root
            taken = {n.name() for n in parent._children if n is not self}
            if name in taken and not uncollide:
                raise ValueError(f"a node named {name} exists")
            self["name"].setValue(_uncollide(name, taken))

        def knob(self, p: Any, follow_link: bool = False) -> Optional[Knob]:
            if isinstance(p, int):
                return self.allKnobs()[p] if 0 <= p < len(self._order) else None
            return self._knobs.get(p)

        def knobs(self) -> dict[str, Knob]:
            return dict(self._knobs)

        def allKnobs(self) -> list[Knob]:  # noqa: N802
            return [self._knobs[n] for n in self._order]

        def __getitem__(self, name: str) -> Knob:
            try:
                return self._knobs[name]
            except KeyError:
                raise NameError(f"{self._name} has no knob named {name}") from None

        def addKnob(self, knob: Knob) -> None:  # noqa: N802
            def undo() -> None:
                self._knobs.pop(knob.name(), None)
                if knob.name() in self._order:
                    self._order.remove(knob.name())
            rec.change(f"{self._name}.addKnob({knob.name()})", undo=undo)
            self._attach(knob)

        def removeKnob(self, knob: Knob) -> None:  # noqa: N802
            self._knobs.pop(knob.name(), None)
            self._order.remove(knob.name())

        def setInput(self, i: int, node: Optional["Node"]) -> bool:  # noqa: N802
            old = self._inputs.get(i)
            rec.change(f"{self._name}.setInput({i}, {node.name() if node else None})",
                       undo=lambda: self._inputs.__setitem__(i, old))
            self._inputs[i] = node
            return True

        def input(self, index: int) -> Optional["Node"]:
            return self._inputs.get(index)

        def inputs(self) -> int:
            return sum(1 for n in self._inputs.values() if n is not None)

        def maxInputs(self) -> int:  # noqa: N802
            return self._max_inputs

        def setXYpos(self, x: int, y: int) -> None:  # noqa: N802
            self._knobs["xpos"]._value, self._knobs["ypos"]._value = x, y

        def xpos(self) -> int:
            return self._knobs["xpos"]._value

        def ypos(self) -> int:
            return self._knobs["ypos"]._value

        def screenHeight(self) -> int:  # noqa: N802
            return 18

        def setSelected(self, selected: bool) -> None:  # noqa: N802
            self._knobs["selected"]._value = bool(selected)

        def isSelected(self) -> bool:  # noqa: N802
            return bool(self._knobs["selected"]._value)

        def firstFrame(self) -> int:  # noqa: N802
            return int(self._knobs["first"]._value) if "first" in self._knobs \
                else nuke._root["first_frame"].value()

        def lastFrame(self) -> int:  # noqa: N802
            return int(self._knobs["last"]._value) if "last" in self._knobs \
                else nuke._root["last_frame"].value()

        def frameRange(self) -> tuple[int, int]:  # noqa: N802
            return (self.firstFrame(), self.lastFrame())

        def __repr__(self) -> str:
            return f"<fake {self._class} {self._name}>"

    class Group(Node):
        def begin(self) -> "Group":
            nuke._context.append(self)
            return self

        def end(self) -> None:
            assert nuke._context[-1] is self, "end() without a matching begin()"
            nuke._context.pop()

        def __enter__(self) -> "Group":
            return self.begin()

        def __exit__(self, type: Any, value: Any, traceback: Any) -> None:  # noqa: A002
            self.end()

        def nodes(self) -> list[Node]:
            return [n for n in self._children if not n._deleted]

        def node(self, s: str) -> Optional[Node]:
            return next((n for n in self.nodes() if n.name() == s), None)

    class Root(Group):
        def firstFrame(self) -> int:  # noqa: N802
            return int(self["first_frame"].value())

        def lastFrame(self) -> int:  # noqa: N802
            return int(self["last_frame"].value())

        def fps(self) -> int:
            return int(self["fps"].value())

    nuke.Node, nuke.Group, nuke.Root = Node, Group, Root
    nuke._root = Root("Root")
    nuke._root["name"]._value = ""
    nuke._root["colorManagement"]._value = "OCIO"
    nuke._root["OCIO_config"]._value = nuke.config["OCIO_config"]
    nuke._context = [nuke._root]
    nuke._this: Optional[Node] = None

    def _make(cls: str, knobs: dict) -> Node:
        parent = nuke._context[-1]
        node = (Group if cls in ("Group", "Gizmo", "LiveGroup") else Node)(cls, parent)

        def undo() -> None:
            node._deleted = True
            if node in parent._children:
                parent._children.remove(node)
        rec.change(f"create {cls}", undo=undo)
        parent._children.append(node)
        for key, value in knobs.items():
            if key == "inputs":
                continue
            if node.knob(key) is None:
                raise NameError(f"{cls} has no knob {key}")
            node[key].setValue(value)
        return node

    class _Nodes:
        def __getattr__(self, item: str) -> Callable[..., Node]:
            def make(**knobs: Any) -> Node:
                rec.calls.append(("nodes." + item, dict(knobs)))
                return _make(item, knobs)
            return make

    nuke.nodes = _Nodes()

    def createNode(typ: str, knobs: str = "", inpanel: bool = True) -> Node:  # noqa: N802
        rec.calls.append(("createNode", typ, knobs, inpanel))
        node = _make(typ, {})
        selected = [n for n in nuke._context[-1]._children if n.isSelected() and n is not node]
        if selected and typ not in ("Viewer",):
            node.setInput(0, selected[0])
        for n in nuke._context[-1]._children:
            n.setSelected(n is node)
        return node

    def delete(n: Node) -> None:
        parent = n._parent

        def undo() -> None:
            n._deleted = False
            if parent is not None and n not in parent._children:
                parent._children.append(n)
        rec.change(f"delete {n.name()}", undo=undo)
        n._deleted = True
        if parent is not None and n in parent._children:
            parent._children.remove(n)

    def allNodes(filter: Optional[str] = None, group: Optional[Group] = None,  # noqa: A002,N802
                 recurseGroups: bool = False) -> list[Node]:  # noqa: N803
        out: list[Node] = []

        def walk(parent: Group) -> None:
            for n in parent.nodes():
                if filter is None or n.Class() == filter:
                    out.append(n)
                if recurseGroups and isinstance(n, Group):
                    walk(n)

        walk(group or nuke._context[-1])
        return out

    def toNode(s: str) -> Optional[Node]:  # noqa: N802
        node: Optional[Node] = nuke._root
        for part in s.split("."):
            node = node.node(part) if isinstance(node, Group) else None
        return node

    def selectedNodes(filter: Optional[str] = None) -> list[Node]:  # noqa: A002,N802
        return [n for n in allNodes(filter) if n.isSelected()]

    def selectedNode() -> Node:  # noqa: N802
        nodes = selectedNodes()
        if not nodes:
            raise ValueError("no node selected")
        return nodes[-1]

    def frame(f: Optional[int] = None) -> int:
        if f is not None:
            nuke._frame = int(f)
        return nuke._frame

    class _ViewerWindow:
        def __init__(self, viewer: Node) -> None:
            self._viewer = viewer

        def node(self, *args: Any, **kwargs: Any) -> Node:
            return self._viewer

        def activeInput(self, secondary: bool = False) -> Optional[int]:  # noqa: N802
            return 0 if self._viewer.input(0) else None

    def activeViewer() -> Optional[_ViewerWindow]:  # noqa: N802
        viewers = allNodes("Viewer")
        return _ViewerWindow(viewers[0]) if viewers else None

    def getColorspaceList(colorspaceKnob: Knob) -> list[str]:  # noqa: N802,N803
        """Foundry's nuke/colorspaces.py: the knob's values(), families stripped when the knob
        has STRIP_CASCADE_PREFIX."""
        entries = list(colorspaceKnob.values())
        if not colorspaceKnob.getFlag(nuke.STRIP_CASCADE_PREFIX):
            return entries
        return [entry.split("/")[-1] for entry in entries]

    def getOcioColorSpaces(*args: Any, **kwargs: Any) -> list[str]:  # noqa: N802
        return list(nuke.config["spaces"])

    def addOnScriptLoad(call: Callable, args: tuple = (), kwargs: Optional[dict] = None,  # noqa: N802
                        nodeClass: str = "Root") -> None:  # noqa: N803
        nuke.on_script_load.append(call)

    nuke.on_script_load = []
    for fn in (createNode, delete, allNodes, toNode, selectedNodes, selectedNode, frame,
               activeViewer, getColorspaceList, getOcioColorSpaces, addOnScriptLoad):
        setattr(nuke, fn.__name__, fn)
    nuke.root = lambda: nuke._root
    nuke.thisNode = lambda: nuke._this
    nuke._this_knob = None
    nuke.thisKnob = lambda: nuke._this_knob
    nuke.thisGroup = lambda: nuke._context[-1]

    # -- undo: learn.foundry.com nuke.Undo (13.x-17.1) -------------------------------------

    class Undo:
        @staticmethod
        def begin(name: Optional[str] = None) -> None:
            rec.calls.append(("Undo.begin", name))
            rec.undo_stack.append({"name": name or "", "changes": [], "undo": []})

        @staticmethod
        def name(name: str) -> None:
            rec.calls.append(("Undo.name", name))
            if rec.undo_stack:
                rec.undo_stack[-1]["name"] = name

        @staticmethod
        def end() -> None:
            rec.calls.append(("Undo.end",))
            group = rec.undo_stack.pop()
            if rec.undo_stack:  # nested groups fold into their parent
                rec.undo_stack[-1]["changes"] += group["changes"]
                rec.undo_stack[-1]["undo"] += group["undo"]
            else:
                rec.undo_groups.append({"name": group["name"], "changes": group["changes"]})

        @staticmethod
        def cancel() -> None:
            """"Undoes any actions recorded in the current set and throws it away" (13.x-15.x
            docs); 17.1: "No entry is added to the undo stack. Safe to call when no group is
            open"."""
            rec.calls.append(("Undo.cancel",))
            if not rec.undo_stack:
                return
            group = rec.undo_stack.pop()
            for undo in reversed(group["undo"]):
                if undo is not None:
                    undo()
            rec.cancelled_groups.append({"name": group["name"], "changes": group["changes"]})

        @staticmethod
        def disable() -> None:
            rec.calls.append(("Undo.disable",))

        @staticmethod
        def enable() -> None:
            rec.calls.append(("Undo.enable",))

    nuke.Undo = Undo

    # -- threads: Foundry's nuke_internal/executeInMain.py --------------------------------

    def executeInMainThread(call: Callable, args: Any = (), kwargs: Optional[dict] = None) -> None:  # noqa: N802
        if not isinstance(args, tuple):
            args = (args,)
        rec.calls.append(("executeInMainThread", getattr(call, "__name__", repr(call)),
                          threading.current_thread().name))
        rec.main_queue.put((call, args, kwargs or {}, None))

    def executeInMainThreadWithResult(call: Callable, args: Any = (),  # noqa: N802
                                      kwargs: Optional[dict] = None) -> Any:
        """Queues the call, waits on a threading.Event, then asks for the result; an exception
        in the call is printed (traceback.print_exc) and None returned. From the main thread
        the real one never returns (hosts.md §2.3); the fake raises instead of hanging."""
        if threading.current_thread() is rec.main_thread:
            raise RuntimeError("executeInMainThreadWithResult from the main thread never returns")
        if not isinstance(args, tuple):
            args = (args,)
        rec.calls.append(("executeInMainThreadWithResult", getattr(call, "__name__", repr(call)),
                          threading.current_thread().name))
        box: dict = {}
        done = threading.Event()
        rec.main_queue.put((call, args, kwargs or {}, (box, done)))
        if not done.wait(30):
            raise RuntimeError("the main thread never ran the call (fake: call run_main_queue)")
        if "error" in box:
            traceback.print_exception(box["error"])
            return None
        return box.get("result")

    def run_main_queue(timeout: float = 0.0) -> int:
        """Run queued main-thread calls on this (the main) thread, as Nuke's loop would; an
        exception is printed and the loop goes on (recorded in recorder.main_errors)."""
        assert threading.current_thread() is rec.main_thread
        ran = 0
        while True:
            try:
                call, args, kwargs, waiter = rec.main_queue.get(timeout=timeout) if timeout \
                    else rec.main_queue.get_nowait()
            except queue.Empty:
                return ran
            timeout = 0.0
            try:
                result = call(*args, **kwargs)
                if waiter:
                    waiter[0]["result"] = result
            except Exception as exc:  # noqa: BLE001
                if waiter:
                    waiter[0]["error"] = exc
                else:
                    rec.main_errors.append(f"{type(exc).__name__}: {exc}")
                    traceback.print_exc()
            finally:
                if waiter:
                    waiter[1].set()
            ran += 1

    nuke.executeInMainThread = executeInMainThread
    nuke.executeInMainThreadWithResult = executeInMainThreadWithResult
    nuke.run_main_queue = run_main_queue

    # -- rendering ----------------------------------------------------------------------

    def execute(nameOrNode: Any, start: int, end: int, incr: int = 1,  # noqa: N803
                views: Any = None, continueOnError: bool = False) -> None:  # noqa: N803
        write = nameOrNode if isinstance(nameOrNode, Node) else toNode(str(nameOrNode))
        on_main = threading.current_thread() is rec.main_thread
        rec.executed.append((write.fullName(), start, end, on_main))
        pattern = write["file"].value()
        for f in range(start, end + 1, incr):
            _png(Path(pattern % f if "%" in pattern else pattern))

    nuke.execute = execute

    # -- menus, panes, paths, messages ---------------------------------------------------

    class MenuItem:
        def __init__(self, name: str, script: Any) -> None:
            self._name, self._script = name, script

        def name(self) -> str:
            return self._name

        def script(self) -> Any:
            return self._script

        def invoke(self) -> None:
            if callable(self._script):
                self._script()
            else:
                exec(compile(self._script, f"<menu {self._name}>", "exec"), {"__name__": "__main__"})

    class Menu(MenuItem):
        def __init__(self, name: str) -> None:
            super().__init__(name, None)
            self._items: dict[str, Any] = {}

        def addMenu(self, *args: Any, **kwargs: Any) -> "Menu":  # noqa: N802
            name = args[0]
            rec.calls.append(("addMenu", self._name, name))
            menu = self._items.get(name)
            if not isinstance(menu, Menu):
                menu = Menu(name)
                self._items[name] = menu
            return menu

        def addCommand(self, *args: Any, **kwargs: Any) -> MenuItem:  # noqa: N802
            name = args[0]
            command = args[1] if len(args) > 1 else kwargs.get("command")
            rec.calls.append(("addCommand", self._name, name))
            if "/" in name:
                head, rest = name.split("/", 1)
                return self.addMenu(head).addCommand(rest, command)
            item = MenuItem(name, command)
            self._items[name] = item  # Nuke replaces an item of the same name
            return item

        def addSeparator(self, *args: Any, **kwargs: Any) -> None:  # noqa: N802
            self._items[f"-{len(self._items)}"] = None

        def items(self) -> list[Any]:
            return [i for i in self._items.values() if i is not None]

        def findItem(self, name: str) -> Optional[MenuItem]:  # noqa: N802
            head, _, rest = name.partition("/")
            item = self._items.get(head)
            if rest:
                return item.findItem(rest) if isinstance(item, Menu) else None
            return item

        def menu(self, name: str) -> Optional["Menu"]:
            item = self.findItem(name)
            return item if isinstance(item, Menu) else None

    menus: dict[str, Menu] = {}

    def menu(name: str) -> Menu:
        if not nuke.env["gui"]:
            raise RuntimeError("nuke.menu() in a terminal session: there is no UI")
        rec.calls.append(("menu", name))
        return menus.setdefault(name, Menu(name))

    nuke.menu = menu
    nuke.menus = menus

    class _Dock:
        """A pane (nuke.getPaneFor / thisPane answer one); records what is added to it."""

        def __init__(self, name: str) -> None:
            self._name = name
            self.added: list[Any] = []

        def add(self, panel: Any) -> None:
            rec.calls.append(("pane.add", self._name, getattr(panel, "_id", repr(panel))))
            self.added.append(panel)

    nuke.panes = {}
    # What thisPane() answers when a menu command runs is not recorded. The fake answers a
    # pane: the case in which Foundry's addToPane() (below) adds a restored panel to it.
    nuke.this_pane = _Dock("current pane")
    nuke.getPaneFor = lambda panelName: nuke.panes.setdefault(panelName, _Dock(panelName))
    nuke.thisPane = lambda: nuke.this_pane

    def pluginAddPath(args: str, addToSysPath: bool = True) -> None:  # noqa: N802,N803
        rec.calls.append(("pluginAddPath", args, addToSysPath))
        nuke.plugin_paths.insert(0, args)
        if addToSysPath:
            sys.path.insert(0, args)

    def pluginAppendPath(args: str, addToSysPath: bool = True) -> None:  # noqa: N802,N803
        nuke.plugin_paths.append(args)

    nuke.pluginAddPath = pluginAddPath
    nuke.pluginAppendPath = pluginAppendPath
    nuke.message = lambda prompt: rec.calls.append(("message", prompt))
    nuke.warning = lambda message: rec.calls.append(("warning", message))

    def tprint(*args: Any, sep: str = " ", end: str = "\n", file: Any = None) -> None:
        rec.calls.append(("tprint",) + args)

    nuke.tprint = tprint

    class ProgressTask:
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            self.title, self.progress, self.messages = (args[0] if args else ""), 0, []
            rec.calls.append(("ProgressTask", self.title))

        def setProgress(self, *args: Any, **kwargs: Any) -> None:  # noqa: N802
            self.progress = args[0]

        def setMessage(self, *args: Any, **kwargs: Any) -> None:  # noqa: N802
            self.messages.append(args[0])

        def isCancelled(self, *args: Any, **kwargs: Any) -> bool:  # noqa: N802
            return False

    nuke.ProgressTask = ProgressTask
    return nuke, build_nukescripts(nuke, rec, K["PyCustom_Knob"])


def install(config: str = "aces_1.3", gui: bool = True, version: int = 16,
            list_form: str = "recorded") -> types.ModuleType:
    nuke, nukescripts = build(config, gui, version, list_form=list_form)
    sys.modules["nuke"] = nuke
    sys.modules["nukescripts"] = nukescripts
    sys.modules["nukescripts.panels"] = nukescripts.panels
    return nuke


def uninstall() -> None:
    for name in ("nuke", "nukescripts", "nukescripts.panels"):
        sys.modules.pop(name, None)
    # genplate.nuke modules hold a reference to the fake they imported; drop them too.
    # `from . import read` takes the package's attribute before sys.modules, so drop both.
    package = sys.modules.get("genplate.nuke")
    for name in [m for m in sys.modules if m.startswith("genplate.nuke.")]:
        del sys.modules[name]
        if package is not None and hasattr(package, name.rsplit(".", 1)[1]):
            delattr(package, name.rsplit(".", 1)[1])


def set_env_gui(nuke: types.ModuleType, gui: bool) -> None:
    nuke.env["gui"] = gui
    nuke.GUI = gui


__all__ = ["CONFIGS", "LIST_FORMS", "FAKE_HELPERS", "build", "install", "uninstall",
           "colorspace_entries", "knob_values", "set_env_gui", "tcl_substitute", "TclError"]

if os.environ.get("FAKE_NUKE_SELFTEST"):  # pragma: no cover
    n = install()
    r = n.nodes.Read()
    r["file"].fromUserText("/x/a.####.exr 1001-1121")
    print(r["file"].value(), r["first"].value(), r["origlast"].value())
