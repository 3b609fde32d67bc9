"""A recording fake of Nuke's `nuke` and `nukescripts` modules, following docs/hosts.md.

No Nuke runs here. The fake keeps the behaviour genplate depends on and records everything
else so tests can assert it:

- knobs by name, typed enough to matter: File_Knob.fromUserText parses a trailing range and
  value() returns %04d notation; Enumeration_Knob refuses values it does not list; the Read's
  `colorspace` lists what the script's live OCIO config offers, roles as "role\\t(space)" the
  way nuke.getColorspaceList returns them (ayon-nuke get_colorspace_list);
- nuke.createNode / nuke.nodes.X / nuke.allNodes / nuke.toNode / groups with begin()/end();
- nuke.Undo.begin/name/end/cancel, recorded as groups of changes;
- nuke.executeInMainThread queues (returns at once) and executeInMainThreadWithResult blocks
  until the queue runs; every node change records whether it happened on the main thread;
- nuke.execute(write, first, last) writes a small PNG per frame so grabs can be checked;
- nuke.menu(...) menus, nuke.pluginAddPath, nuke.env["gui"], NUKE_VERSION_MAJOR;
- nukescripts.panels.registerWidgetAsPanel.

`install(config="aces_1.3", gui=True)` puts fresh fakes into sys.modules and returns the nuke
module; `uninstall()` removes them.
"""
from __future__ import annotations

import os
import queue
import re
import struct
import sys
import threading
import types
import zlib
from pathlib import Path
from typing import Any, Callable, Optional

# -- OCIO configs as Nuke shows them -------------------------------------------------------

CONFIGS: dict[str, dict] = {
    # studio-config-v1.0.0_aces-v1.3_ocio-v2.1 (Nuke 14/15's shipped ACES 1.3 config)
    "aces_1.3": {
        "OCIO_config": "studio-config-v1.0.0_aces-v1.3_ocio-v2.1",
        "roles": {"scene_linear": "ACEScg", "compositing_linear": "ACEScg",
                  "rendering": "ACEScg", "aces_interchange": "ACES2065-1",
                  "color_timing": "ACEScct", "compositing_log": "ACEScct", "data": "Raw",
                  "matte_paint": "sRGB - Texture", "texture_paint": "ACEScct",
                  "cie_xyz_d65_interchange": "CIE-XYZ-D65", "color_picking": "sRGB - Texture"},
        "spaces": ["ACES2065-1", "ACEScc", "ACEScct", "ACEScg", "Linear P3-D65",
                   "Linear Rec.2020", "Linear Rec.709 (sRGB)", "Gamma 2.2 Rec.709 - Texture",
                   "sRGB - Texture", "Raw", "CIE-XYZ-D65", "sRGB - Display",
                   "Rec.1886 Rec.709 - Display", "ST2084-P3-D65 - Display"],
        "displays": {"sRGB - Display": ["ACES 1.0 - SDR Video", "Un-tone-mapped", "Raw"],
                     "Rec.1886 Rec.709 - Display": ["ACES 1.0 - SDR Video", "Raw"]},
    },
    # studio-config-v4.0.0_aces-v2.0_ocio-v2.4 (ACES 2.0, Nuke 17)
    "aces_2.0": {
        "OCIO_config": "studio-config-v4.0.0_aces-v2.0_ocio-v2.4",
        "roles": {"scene_linear": "ACEScg", "compositing_linear": "ACEScg",
                  "rendering": "ACEScg", "aces_interchange": "ACES2065-1",
                  "color_timing": "ACEScct", "compositing_log": "ACEScct", "data": "Raw",
                  "matte_paint": "sRGB Encoded Rec.709 (sRGB)",
                  "texture_paint": "ACEScct", "cie_xyz_d65_interchange": "CIE XYZ-D65 - Display-referred",
                  "color_picking": "sRGB Encoded Rec.709 (sRGB)"},
        "spaces": ["ACES2065-1", "ACEScc", "ACEScct", "ACEScg", "ADX10", "Linear P3-D65",
                   "Linear Rec.2020", "Linear Rec.709 (sRGB)", "sRGB Encoded Rec.709 (sRGB)",
                   "Gamma 2.2 Encoded Rec.709", "Raw", "CIE XYZ-D65 - Display-referred",
                   "sRGB - Display", "Rec.1886 Rec.709 - Display", "ST2084-P3-D65 - Display"],
        "displays": {"sRGB - Display": ["ACES 2.0 - SDR 100 nits (Rec.709)", "Un-tone-mapped",
                                        "Raw"],
                     "Rec.1886 Rec.709 - Display": ["ACES 2.0 - SDR 100 nits (Rec.709)", "Raw"]},
    },
    # aces_1.2 (OCIO v1): every space carries its family in its name
    "aces_1.2": {
        "OCIO_config": "aces_1.2",
        "roles": {"scene_linear": "ACES - ACEScg", "compositing_linear": "ACES - ACEScg",
                  "rendering": "ACES - ACEScg", "aces_interchange": "ACES - ACES2065-1",
                  "color_timing": "ACES - ACEScc", "data": "Utility - Raw"},
        "spaces": ["ACES - ACES2065-1", "ACES - ACEScc", "ACES - ACEScct", "ACES - ACEScg",
                   "Utility - Linear - sRGB", "Utility - sRGB - Texture", "Utility - Raw",
                   "Output - sRGB", "Output - Rec.709"],
        "displays": {"ACES": ["sRGB", "Rec.709", "Raw"]},
    },
    # A studio config whose scene_linear is not ACEScg: a role would misread an ACEScg take.
    "linear_709_studio": {
        "OCIO_config": "custom",
        "roles": {"scene_linear": "Linear Rec.709 (sRGB)", "compositing_linear": "Linear Rec.709 (sRGB)",
                  "data": "Raw"},
        "spaces": ["ACES2065-1", "ACEScg", "Linear Rec.709 (sRGB)", "sRGB - Texture", "Raw",
                   "sRGB - Display"],
        "displays": {"sRGB - Display": ["Standard", "Raw"]},
    },
    # No ACES spaces at all (nuke-default): nothing to trust.
    "nuke-default": {
        "OCIO_config": "nuke-default",
        "roles": {"scene_linear": "linear", "data": "raw"},
        "spaces": ["linear", "sRGB", "rec709", "Cineon", "raw"],
        "displays": {"default": ["sRGB", "rec709", "None"]},
    },
}


def colorspace_entries(config: dict) -> list[str]:
    """What nuke.getColorspaceList(read['colorspace']) returns for a config."""
    entries = [f"default ({config['roles'].get('scene_linear', 'linear')})"]
    entries += [f"{role}\t{role} ({space})" for role, space in config["roles"].items()]
    return entries + list(config["spaces"])


def knob_values(config: dict) -> list[str]:
    """The values the Read's colorspace knob accepts (role names and space names)."""
    return ["default", *config["roles"], *config["spaces"]]


# -- the recording ------------------------------------------------------------------------

class Recorder:
    """Everything the fake saw, in order."""

    def __init__(self, main_thread: threading.Thread) -> None:
        self.main_thread = main_thread
        self.calls: list[tuple] = []
        self.off_main: list[str] = []
        self.undo_stack: list[dict] = []   # open undo groups
        self.undo_groups: list[dict] = []  # closed ones: {"name", "changes": [...]}
        self.main_queue: "queue.Queue[tuple]" = queue.Queue()
        self.executed: list[tuple] = []

    def change(self, what: str) -> None:
        on_main = threading.current_thread() is self.main_thread
        self.calls.append(("change", what, on_main))
        if not on_main:
            self.off_main.append(what)
        if self.undo_stack:
            self.undo_stack[-1]["changes"].append(what)


def _png(path: Path, w: int = 8, h: int = 8) -> None:
    raw = b"".join(b"\x00" + b"\x80\x40\x20" * w for _ in range(h))

    def chunk(t: bytes, d: bytes) -> bytes:
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xFFFFFFFF)

    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
                     + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def build(config: str = "aces_1.3", gui: bool = True, version: int = 16,
          main_thread: Optional[threading.Thread] = None) -> tuple[types.ModuleType, types.ModuleType]:
    """A fresh (nuke, nukescripts) pair sharing one recorder."""
    nuke = types.ModuleType("nuke")
    nuke.__file__ = "<fake nuke>"
    rec = Recorder(main_thread or threading.main_thread())
    nuke.recorder = rec
    nuke.config = CONFIGS[config]
    nuke.NUKE_VERSION_MAJOR = version
    nuke.NUKE_VERSION_MINOR = 0
    nuke.NUKE_VERSION_STRING = f"{version}.0v1"
    nuke.GUI = gui
    nuke.env = {"gui": gui, "NukeVersionMajor": version, "ExecutablePath": "/opt/Nuke/Nuke"}
    nuke.INVISIBLE = 0x400
    nuke.STARTLINE = 0x1000
    nuke.ENDLINE = 0x2000
    nuke.DISABLED = 0x80
    nuke.NO_ANIMATION = 0x100
    nuke.plugin_paths = []
    nuke._frame = 1001

    # -- knobs ------------------------------------------------------------------------

    class Knob:
        def __init__(self, name: str, label: str = "", value: Any = None) -> None:
            self._name, self._label = name, label or name
            self._value = value if value is not None else self._default()
            self._flags = 0
            self._enabled = True
            self._tooltip = ""
            self.node: Optional["Node"] = None

        def _default(self) -> Any:
            return ""

        def name(self) -> str:
            return self._name

        def label(self) -> str:
            return self._label

        def Class(self) -> str:  # noqa: N802 (Nuke's name)
            return type(self).__name__

        def value(self) -> Any:
            return self._value

        def getValue(self) -> Any:  # noqa: N802
            return self._value

        def evaluate(self) -> Any:
            return self._value

        def setValue(self, value: Any) -> bool:  # noqa: N802
            self._check(value)
            rec.change(f"{self._owner()}.{self._name}={value!r}")
            self._value = value
            if self.node is not None:
                self.node._knob_changed(self)
            return True

        def _check(self, value: Any) -> None:
            pass

        def _owner(self) -> str:
            return self.node.name() if self.node is not None else "?"

        def setFlag(self, flag: int) -> None:  # noqa: N802
            self._flags |= flag

        def clearFlag(self, flag: int) -> None:  # noqa: N802
            self._flags &= ~flag

        def getFlag(self, flag: int) -> bool:  # noqa: N802
            return bool(self._flags & flag)

        def setVisible(self, visible: bool) -> None:  # noqa: N802
            self.setFlag(nuke.INVISIBLE) if not visible else self.clearFlag(nuke.INVISIBLE)

        def visible(self) -> bool:
            return not self.getFlag(nuke.INVISIBLE)

        def setEnabled(self, enabled: bool) -> None:  # noqa: N802
            self._enabled = enabled

        def enabled(self) -> bool:
            return self._enabled

        def setTooltip(self, text: str) -> None:  # noqa: N802
            self._tooltip = text

        def tooltip(self) -> str:
            return self._tooltip

        def setLabel(self, label: str) -> None:  # noqa: N802
            self._label = label

    class String_Knob(Knob):  # noqa: N801
        pass

    class Multiline_Eval_String_Knob(String_Knob):  # noqa: N801
        pass

    class EvalString_Knob(String_Knob):  # noqa: N801
        pass

    class Text_Knob(Knob):  # noqa: N801
        def __init__(self, name: str, label: str = "", value: str = "") -> None:
            super().__init__(name, label, value)

    class Tab_Knob(Knob):  # noqa: N801
        pass

    class Boolean_Knob(Knob):  # noqa: N801
        def _default(self) -> Any:
            return False

        def value(self) -> bool:
            return bool(self._value)

        def _check(self, value: Any) -> None:
            if not isinstance(value, (bool, int)):
                raise TypeError(f"{self._name}: a boolean knob takes a bool, not {value!r}")

    class Int_Knob(Knob):  # noqa: N801
        def _default(self) -> Any:
            return 0

        def _check(self, value: Any) -> None:
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise TypeError(f"{self._name}: an int knob takes a number, not {value!r}")

        def value(self) -> int:
            return int(self._value)

    class Double_Knob(Int_Knob):  # noqa: N801
        def value(self) -> float:
            return float(self._value)

    class Array_Knob(Int_Knob):  # noqa: N801
        pass

    class ColorChip_Knob(Int_Knob):  # noqa: N801
        pass

    class Enumeration_Knob(Knob):  # noqa: N801
        def __init__(self, name: str, label: str = "", values: Optional[list] = None) -> None:
            self._values = list(values or [])
            super().__init__(name, label, self._values[0] if self._values else "")

        def values(self) -> list[str]:
            return list(self._values)

        def setValues(self, values: list) -> None:  # noqa: N802
            self._values = list(values)

        def _check(self, value: Any) -> None:
            if isinstance(value, int) and not isinstance(value, bool):
                if not 0 <= value < len(self._values):
                    raise ValueError(f"{self._name}: no item {value}")
                return
            if value not in self._values:
                raise ValueError(f"{self._name}: {value!r} is not one of the menu's items")

        def setValue(self, value: Any) -> bool:  # noqa: N802
            self._check(value)
            if isinstance(value, int) and not isinstance(value, bool):
                value = self._values[value]
            return super().setValue(value)

    class Colorspace_Knob(Enumeration_Knob):  # noqa: N801
        """A Read/Write `colorspace` knob: whatever the live OCIO config offers."""

        def __init__(self, name: str = "colorspace", label: str = "input transform") -> None:
            super().__init__(name, label, knob_values(nuke.config))

        def values(self) -> list[str]:
            return knob_values(nuke.config)

        def _check(self, value: Any) -> None:
            if value not in knob_values(nuke.config):
                raise ValueError(f"colorspace: {value!r} is not in the OCIO config "
                                 f"{nuke.config['OCIO_config']}")

    class File_Knob(Knob):  # noqa: N801
        _RANGE = re.compile(r"^(?P<path>.*?)\s+(?P<first>-?\d+)-(?P<last>-?\d+)\s*$")

        def fromUserText(self, text: str) -> None:  # noqa: N802
            rec.calls.append(("fromUserText", self._owner(), text))
            match = self._RANGE.match(text)
            path = match.group("path") if match else text
            self.setValue(path)
            node = self.node
            if match and node is not None:
                first, last = int(match.group("first")), int(match.group("last"))
                for knob in ("first", "origfirst"):
                    if node.knob(knob) is not None:
                        node[knob]._value = first
                for knob in ("last", "origlast"):
                    if node.knob(knob) is not None:
                        node[knob]._value = last

        def value(self) -> str:
            # Nuke normalises #### to printf notation.
            return re.sub(r"#+", lambda m: f"%0{len(m.group(0))}d", str(self._value))

    class PyScript_Knob(Knob):  # noqa: N801
        def __init__(self, name: str, label: str = "", command: str = "") -> None:
            super().__init__(name, label, command)

        def execute(self) -> None:
            node = self.node
            saved = nuke._this
            nuke._this = node
            try:
                # A fresh namespace: a button's script must import what it uses.
                exec(compile(self._value, f"<{self._name} knob>", "exec"), {"__name__": "__main__"})
            finally:
                nuke._this = saved

    class Link_Knob(Knob):  # noqa: N801
        def makeLink(self, node: str, knob: str) -> None:  # noqa: N802
            self._value = f"{node}.{knob}"

    for cls in (Knob, String_Knob, Multiline_Eval_String_Knob, EvalString_Knob, Text_Knob,
                Tab_Knob, Boolean_Knob, Int_Knob, Double_Knob, Array_Knob, ColorChip_Knob,
                Enumeration_Knob, File_Knob, PyScript_Knob, Link_Knob):
        setattr(nuke, cls.__name__, cls)
    nuke.Colorspace_Knob = Colorspace_Knob
    nuke.XY_Knob = Array_Knob

    # -- nodes ------------------------------------------------------------------------

    KNOBS: dict[str, Callable[[], list]] = {
        "Read": lambda: [File_Knob("file"), Int_Knob("first"), Int_Knob("last"),
                         Int_Knob("origfirst"), Int_Knob("origlast"),
                         Boolean_Knob("origset"),
                         Enumeration_Knob("frame_mode", "frame mode",
                                          ["expression", "start at", "offset"]),
                         String_Knob("frame"),
                         Enumeration_Knob("before", "before", ["hold", "loop", "bounce", "black"]),
                         Enumeration_Knob("after", "after", ["hold", "loop", "bounce", "black"]),
                         Enumeration_Knob("on_error", "missing frames",
                                          ["error", "black", "checkerboard", "nearest frame"]),
                         Colorspace_Knob(), Boolean_Knob("raw"),
                         Boolean_Knob("premultiplied"), Boolean_Knob("auto_alpha")],
        "Write": lambda: [File_Knob("file"), Enumeration_Knob("file_type", "file type",
                                                              ["", "exr", "png", "jpeg", "tiff"]),
                          Enumeration_Knob("datatype", "data type", ["8 bit", "16 bit"]),
                          Colorspace_Knob(), Boolean_Knob("raw"),
                          Boolean_Knob("create_directories"), Int_Knob("first"),
                          Int_Knob("last"), Boolean_Knob("use_limit")],
        "OCIODisplay": lambda: [Enumeration_Knob("display", "display", list(nuke.config["displays"])),
                                Enumeration_Knob("view", "view", sorted({v for vs in nuke.config["displays"].values() for v in vs})),
                                Enumeration_Knob("colorspace", "input", knob_values(nuke.config))],
        "Viewer": lambda: [Enumeration_Knob("viewerProcess", "view", [
            f"{v} ({d})" for d, vs in nuke.config["displays"].items() for v in vs] + ["None"]),
            Enumeration_Knob("monitorOutOutputTransform", "output", ["None"])],
        "Root": lambda: [String_Knob("name"), Int_Knob("first_frame", value=1001),
                         Int_Knob("last_frame", value=1100), Double_Knob("fps", value=24.0),
                         Enumeration_Knob("colorManagement", "color management", ["Nuke", "OCIO"]),
                         String_Knob("OCIO_config"), File_Knob("customOCIOConfigPath"),
                         String_Knob("workingSpaceLUT"), String_Knob("monitorLut"),
                         String_Knob("int8Lut"), String_Knob("floatLut")],
    }

    class Node:
        _counters: dict[str, int] = {}

        def __init__(self, cls: str, parent: Optional["Node"] = None) -> None:
            self._class = cls
            n = Node._counters.get(cls, 0) + 1
            Node._counters[cls] = n
            self._name = f"{cls}{n}"
            self._knobs: dict[str, Knob] = {}
            self._order: list[str] = []
            self._inputs: dict[int, Optional[Node]] = {}
            self._max_inputs = 1
            self.parent = parent
            self.children: list[Node] = []
            self.deleted = False
            self.knob_changed: list[str] = []
            for knob in [String_Knob("name", value=self._name), String_Knob("label"),
                         Int_Knob("tile_color"), Int_Knob("xpos"), Int_Knob("ypos"),
                         Boolean_Knob("selected"), Boolean_Knob("disable")] + \
                    KNOBS.get(cls, lambda: [])():
                self._attach(knob)

        def _attach(self, knob: Knob) -> None:
            knob.node = self
            if knob.name() not in self._knobs:
                self._order.append(knob.name())
            self._knobs[knob.name()] = knob

        def _knob_changed(self, knob: Knob) -> None:
            self.knob_changed.append(knob.name())
            if knob.name() == "name":
                self._name = knob._value

        def Class(self) -> str:  # noqa: N802
            return self._class

        def name(self) -> str:
            return self._name

        def fullName(self) -> str:  # noqa: N802
            if self.parent is not None and self.parent is not nuke._root:
                return f"{self.parent.fullName()}.{self._name}"
            return self._name

        def setName(self, name: str, uniquify: bool = False, updateExpressions: bool = False) -> None:  # noqa: N802,N803
            siblings = {n.name() for n in (self.parent or nuke._root).children if n is not self}
            base, i = name, 1
            while name in siblings:
                if not uniquify:
                    raise ValueError(f"a node named {name} exists")
                i += 1
                name = f"{base}{i}"
            self["name"].setValue(name)

        def knob(self, name: str) -> Optional[Knob]:
            return self._knobs.get(name)

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
            rec.change(f"{self._name}.addKnob({knob.name()})")
            self._attach(knob)

        def removeKnob(self, knob: Knob) -> None:  # noqa: N802
            self._knobs.pop(knob.name(), None)
            self._order.remove(knob.name())

        def setInput(self, i: int, node: Optional["Node"]) -> bool:  # noqa: N802
            rec.change(f"{self._name}.setInput({i}, {node.name() if node else None})")
            self._inputs[i] = node
            return True

        def input(self, i: int) -> Optional["Node"]:
            return self._inputs.get(i)

        def inputs(self) -> int:
            return sum(1 for n in self._inputs.values() if n is not None)

        def maxInputs(self) -> int:  # noqa: N802
            return self._max_inputs

        def dependent(self) -> list["Node"]:
            return [n for n in nuke.allNodes(recurseGroups=True) if self in n._inputs.values()]

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
            return int(self._knobs["first"]._value) if "first" in self._knobs else nuke._root["first_frame"].value()

        def lastFrame(self) -> int:  # noqa: N802
            return int(self._knobs["last"]._value) if "last" in self._knobs else nuke._root["last_frame"].value()

        def frameRange(self):  # noqa: N802
            return (self.firstFrame(), self.lastFrame())

        # groups
        def begin(self) -> "Node":
            nuke._context.append(self)
            return self

        def end(self) -> None:
            assert nuke._context[-1] is self, "end() without a matching begin()"
            nuke._context.pop()

        def __enter__(self) -> "Node":
            return self.begin()

        def __exit__(self, *exc: Any) -> None:
            self.end()

        def nodes(self) -> list["Node"]:
            return [n for n in self.children if not n.deleted]

        def node(self, name: str) -> Optional["Node"]:
            return next((n for n in self.nodes() if n.name() == name), None)

        def __repr__(self) -> str:
            return f"<fake {self._class} {self._name}>"

    nuke.Node = Node
    nuke._root = Node("Root")
    nuke._root["name"]._value = ""
    nuke._root["colorManagement"]._value = "OCIO"
    nuke._root["OCIO_config"]._value = nuke.config["OCIO_config"]
    nuke._context = [nuke._root]
    nuke._this: Optional[Node] = None

    def _make(cls: str, knobs: dict) -> Node:
        parent = nuke._context[-1]
        rec.change(f"create {cls}")
        node = Node(cls, parent)
        if cls in ("Group", "Gizmo"):
            node._max_inputs = 1
        parent.children.append(node)
        for key, value in knobs.items():
            if key == "inputs":
                continue
            if node.knob(key) is None:
                raise NameError(f"{cls} has no knob {key}")
            node[key].setValue(value)
        return node

    class _Nodes:
        def __getattr__(self, cls: str) -> Callable[..., Node]:
            def make(**knobs: Any) -> Node:
                rec.calls.append(("nodes." + cls, dict(knobs)))
                return _make(cls, knobs)
            return make

    nuke.nodes = _Nodes()

    def createNode(cls: str, knobs: str = "", inpanel: bool = True) -> Node:  # noqa: N802
        rec.calls.append(("createNode", cls, knobs, inpanel))
        node = _make(cls, {})
        selected = [n for n in nuke._context[-1].children if n.isSelected() and n is not node]
        if selected and cls not in ("Viewer",):
            node.setInput(0, selected[0])
        for n in nuke._context[-1].children:
            n.setSelected(n is node)
        return node

    nuke.createNode = createNode

    def delete(node: Node) -> None:
        rec.change(f"delete {node.name()}")
        node.deleted = True
        if node.parent is not None and node in node.parent.children:
            node.parent.children.remove(node)

    nuke.delete = delete
    nuke.root = lambda: nuke._root
    nuke.thisNode = lambda: nuke._this
    nuke._this_knob = None
    nuke.thisKnob = lambda: nuke._this_knob
    nuke.on_script_load = []
    nuke.addOnScriptLoad = lambda fn, *a, **kw: nuke.on_script_load.append(fn)
    nuke.thisGroup = lambda: nuke._context[-1]

    def allNodes(filter: Optional[str] = None, group: Optional[Node] = None,  # noqa: A002,N802
                 recurseGroups: bool = False) -> list[Node]:  # noqa: N803
        out: list[Node] = []

        def walk(parent: Node) -> None:
            for n in parent.nodes():
                if filter is None or n.Class() == filter:
                    out.append(n)
                if recurseGroups and n.children:
                    walk(n)

        walk(group or nuke._context[-1])
        return out

    nuke.allNodes = allNodes

    def toNode(name: str) -> Optional[Node]:  # noqa: N802
        parts = name.split(".")
        node: Optional[Node] = nuke._root
        for part in parts:
            node = node.node(part) if node is not None else None
        return node

    nuke.toNode = toNode
    nuke.selectedNodes = lambda filter=None: [n for n in allNodes(filter) if n.isSelected()]  # noqa: A002

    def selectedNode() -> Node:  # noqa: N802
        nodes = nuke.selectedNodes()
        if not nodes:
            raise ValueError("no node selected")
        return nodes[-1]

    nuke.selectedNode = selectedNode
    nuke.getPaneFor = lambda name: f"<pane {name}>"
    nuke.frame = lambda f=None: nuke._frame if f is None else setattr(nuke, "_frame", f)

    def activeViewer():  # noqa: N802
        viewers = allNodes("Viewer")
        if not viewers:
            return None
        viewer = viewers[0]
        return types.SimpleNamespace(node=lambda: viewer,
                                     activeInput=lambda: 0 if viewer.input(0) else None)

    nuke.activeViewer = activeViewer
    nuke.getColorspaceList = lambda knob: colorspace_entries(nuke.config)

    def getOcioColorSpaces() -> list[str]:  # noqa: N802
        return list(nuke.config["spaces"])

    nuke.getOcioColorSpaces = getOcioColorSpaces

    # -- undo ---------------------------------------------------------------------------

    class Undo:
        @staticmethod
        def begin(name: str = "") -> None:
            rec.calls.append(("Undo.begin", name))
            rec.undo_stack.append({"name": name, "changes": []})

        @staticmethod
        def name(name: str) -> None:
            rec.calls.append(("Undo.name", name))
            if rec.undo_stack:
                rec.undo_stack[-1]["name"] = name

        @staticmethod
        def end() -> None:
            rec.calls.append(("Undo.end",))
            group = rec.undo_stack.pop()
            if rec.undo_stack:  # nested groups fold into their parent, as Nuke does
                rec.undo_stack[-1]["changes"] += group["changes"]
            else:
                rec.undo_groups.append(group)

        @staticmethod
        def cancel() -> None:
            rec.calls.append(("Undo.cancel",))
            rec.undo_stack.pop()

        @staticmethod
        def disable() -> None:
            rec.calls.append(("Undo.disable",))

        @staticmethod
        def enable() -> None:
            rec.calls.append(("Undo.enable",))

    nuke.Undo = Undo

    # -- threads --------------------------------------------------------------------------

    def executeInMainThread(call: Callable, args: Any = (), kwargs: Optional[dict] = None) -> None:  # noqa: N802
        if not isinstance(args, tuple):
            args = (args,)
        rec.calls.append(("executeInMainThread", getattr(call, "__name__", repr(call)),
                          threading.current_thread().name))
        rec.main_queue.put((call, args, kwargs or {}, None))

    def executeInMainThreadWithResult(call: Callable, args: Any = (), kwargs: Optional[dict] = None):  # noqa: N802
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
            raise box["error"]
        return box.get("result")

    def run_main_queue(timeout: float = 0.0) -> int:
        """Run queued main-thread calls on this (the main) thread, as Nuke's loop would."""
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
                if not waiter:
                    raise
                waiter[0]["error"] = exc
            finally:
                if waiter:
                    waiter[1].set()
            ran += 1

    nuke.executeInMainThread = executeInMainThread
    nuke.executeInMainThreadWithResult = executeInMainThreadWithResult
    nuke.run_main_queue = run_main_queue

    # -- rendering ----------------------------------------------------------------------

    def execute(node: Node, first: int, last: int, incr: int = 1, views=None) -> None:
        name = node.name() if isinstance(node, Node) else str(node)
        write = node if isinstance(node, Node) else toNode(name)
        on_main = threading.current_thread() is rec.main_thread
        rec.executed.append((write.fullName(), first, last, on_main))
        pattern = write["file"].value()
        for frame in range(first, last + 1, incr):
            path = Path(pattern % frame if "%" in pattern else pattern)
            _png(path)

    nuke.execute = execute

    # -- menus, paths, messages ---------------------------------------------------------------

    class Menu:
        def __init__(self, name: str) -> None:
            self._name = name
            self.items: dict[str, Any] = {}

        def name(self) -> str:
            return self._name

        def addMenu(self, name: str, icon: str = "", **kw: Any) -> "Menu":  # noqa: N802
            rec.calls.append(("addMenu", self._name, name))
            menu = self.items.get(name)
            if not isinstance(menu, Menu):
                menu = Menu(name)
                self.items[name] = menu
            return menu

        def addCommand(self, name: str, command: Any = None, shortcut: str = "",  # noqa: N802
                       icon: str = "", **kw: Any) -> Any:
            rec.calls.append(("addCommand", self._name, name))
            if "/" in name:
                head, rest = name.split("/", 1)
                return self.addMenu(head).addCommand(rest, command, shortcut, icon, **kw)
            self.items[name] = command
            return command

        def addSeparator(self, **kw: Any) -> None:  # noqa: N802
            self.items[f"-{len(self.items)}"] = None

        def findItem(self, name: str) -> Any:  # noqa: N802
            head, _, rest = name.partition("/")
            item = self.items.get(head)
            if rest:
                return item.findItem(rest) if isinstance(item, Menu) else None
            return item

    menus: dict[str, Menu] = {}

    def menu(name: str) -> Menu:
        if not nuke.env["gui"]:
            raise RuntimeError("nuke.menu() in a terminal session: there is no UI")
        rec.calls.append(("menu", name))
        return menus.setdefault(name, Menu(name))

    nuke.menu = menu
    nuke.menus = menus

    def pluginAddPath(path: str, addToSysPath: bool = True) -> None:  # noqa: N802,N803
        rec.calls.append(("pluginAddPath", path, addToSysPath))
        nuke.plugin_paths.insert(0, path)
        if addToSysPath:
            sys.path.insert(0, path)

    nuke.pluginAddPath = pluginAddPath
    nuke.pluginAppendPath = lambda path, addToSysPath=True: nuke.plugin_paths.append(path)  # noqa: N803

    def message(text: str) -> None:
        rec.calls.append(("message", text))

    nuke.message = message
    nuke.warning = lambda text: rec.calls.append(("warning", text))
    nuke.tprint = lambda *a: rec.calls.append(("tprint",) + a)

    class ProgressTask:
        def __init__(self, title: str) -> None:
            self.title, self.progress, self.messages = title, 0, []
            rec.calls.append(("ProgressTask", title))

        def setProgress(self, n: int) -> None:  # noqa: N802
            self.progress = n

        def setMessage(self, text: str) -> None:  # noqa: N802
            self.messages.append(text)

        def isCancelled(self) -> bool:  # noqa: N802
            return False

    nuke.ProgressTask = ProgressTask

    # -- nukescripts ----------------------------------------------------------------------

    nukescripts = types.ModuleType("nukescripts")
    panels = types.ModuleType("nukescripts.panels")
    panels.registered = []

    def registerWidgetAsPanel(widget: str, name: str, id: str, create: bool = False):  # noqa: A002,N802
        if not nuke.env["gui"]:
            raise RuntimeError("registerWidgetAsPanel in a terminal session")
        rec.calls.append(("registerWidgetAsPanel", widget, name, id, create))
        panels.registered.append((widget, name, id, create))
        return None

    panels.registerWidgetAsPanel = registerWidgetAsPanel

    class _Restored:
        def __init__(self, panel_id: str) -> None:
            self.id = panel_id

        def addToPane(self, pane: Any = None) -> "_Restored":  # noqa: N802
            rec.calls.append(("addToPane", self.id, pane))
            return self

    def restorePanel(panel_id: str) -> _Restored:  # noqa: N802
        if not any(entry[2] == panel_id for entry in panels.registered):
            raise KeyError(f"no panel registered as {panel_id}")
        rec.calls.append(("restorePanel", panel_id))
        return _Restored(panel_id)

    panels.restorePanel = restorePanel
    nukescripts.panels = panels
    nukescripts.registerWidgetAsPanel = registerWidgetAsPanel
    return nuke, nukescripts


def install(config: str = "aces_1.3", gui: bool = True, version: int = 16) -> types.ModuleType:
    nuke, nukescripts = build(config, gui, version)
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


__all__ = ["CONFIGS", "build", "install", "uninstall", "colorspace_entries", "knob_values"]

if os.environ.get("FAKE_NUKE_SELFTEST"):  # pragma: no cover
    n = install()
    r = n.nodes.Read()
    r["file"].fromUserText("/x/a.####.exr 1001-1121")
    print(r["file"].value(), r["first"].value(), r["origlast"].value())
