"""The Nuke fake's knobs: the class tree of types-nuke's _nuke.pyi, each behaviour sourced.

``knob_classes(nuke, rec)`` makes the classes for one fake ``nuke`` module (tests/fake_nuke.py),
so the colour-space knob lists that module's live config and every change is recorded.
"""
from __future__ import annotations

import re
from typing import Any, Callable, Optional

from fake_nuke_colour import colorspace_entries, knob_values

class TclError(RuntimeError):
    """A TCL substitution failed (nuke.tcl raises RuntimeError for TCL errors)."""


def tcl_substitute(text: str, command: Callable[[str], str]) -> str:
    """TCL's substitutions on a string: backslash escapes, [command] and $variable.

    Nuke evaluates Eval string knobs as TCL ("[ ] to embed Tcl in ... a string knob",
    learn.foundry.com .../expressions/converting_expressions.html; hosts.md §9). No variable
    is defined in the fake, as none is in a fresh script for the names JSON or prompts contain.
    """
    out: list[str] = []
    i = 0
    while i < len(text):
        c = text[i]
        if c == "\\" and i + 1 < len(text):
            out.append(text[i + 1])
            i += 2
        elif c == "[":
            depth, j = 1, i + 1
            while j < len(text) and depth:
                depth += {"[": 1, "]": -1}.get(text[j], 0)
                j += 1
            if depth:
                raise TclError("missing close-bracket")
            out.append(command(text[i + 1:j - 1]))
            i = j
        elif c == "$":
            match = re.match(r"\$(\{[^}]*\}|[A-Za-z0-9_:]+)", text[i:])
            if not match:
                out.append(c)
                i += 1
                continue
            raise TclError(f"can't read \"{match.group(1).strip('{}')}\": no such variable")
        else:
            out.append(c)
            i += 1
    return "".join(out)


def knob_classes(nuke: Any, rec: Any) -> dict[str, type]:
    """The knob classes of one fake nuke module, by name (``_ColorspaceKnob`` is internal)."""

    class Knob:
        def __init__(self, name: str = "", label: str = "", value: Any = None) -> None:
            self._name, self._label = name, label or name
            self._value = value if value is not None else self._default()
            self._flags = 0
            self._enabled = True
            self._tooltip = ""
            self._node: Any = None

        def _default(self) -> Any:
            return ""

        def name(self) -> str:
            return self._name

        def label(self) -> str:
            return self._label

        def Class(self) -> str:  # noqa: N802 (Nuke's name)
            return type(self).__name__

        def node(self) -> Any:
            return self._node

        def value(self, index: int = 0) -> Any:
            return self._value

        def getValue(self, channel: int = 0) -> Any:  # noqa: N802
            return self.value()

        def setValue(self, val: Any, chan: int = 0) -> bool:  # noqa: N802
            return self._set(val)

        def _set(self, value: Any) -> bool:
            self._check(value)
            old = self._value
            rec.change(f"{self._owner()}.{self._name}={value!r}",
                       undo=lambda: setattr(self, "_value", old))
            self._value = value
            if self._node is not None:
                self._node._knob_changed(self)
            return True

        def _check(self, value: Any) -> None:
            pass

        def _owner(self) -> str:
            return self._node.name() if self._node is not None else "?"

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

        def setTooltip(self, tooltip: str) -> None:  # noqa: N802
            self._tooltip = tooltip

        def tooltip(self) -> str:
            return self._tooltip

        def setLabel(self, label: str) -> None:  # noqa: N802
            self._label = label

    class Array_Knob(Knob):  # noqa: N801
        def _default(self) -> Any:
            return 0

        def _check(self, value: Any) -> None:
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise TypeError(f"{self._name}: a number knob takes a number, not {value!r}")

        def value(self, *args: Any, **kwargs: Any) -> Any:
            return self._value

        def getValue(self, *args: Any, **kwargs: Any) -> Any:  # noqa: N802
            return self._value

        def setValue(self, *args: Any, **kwargs: Any) -> bool:  # noqa: N802
            return self._set(args[0] if args else kwargs.get("value"))

    class Double_Knob(Array_Knob):  # noqa: N801
        def value(self, *args: Any, **kwargs: Any) -> float:
            return float(self._value)

    class Int_Knob(Array_Knob):  # noqa: N801
        def setValue(self, val: Any) -> bool:  # noqa: N802
            return self._set(val)

        def value(self) -> int:
            return int(self._value)

    class Boolean_Knob(Array_Knob):  # noqa: N801
        def _default(self) -> Any:
            return False

        def _check(self, value: Any) -> None:
            if not isinstance(value, (bool, int)):
                raise TypeError(f"{self._name}: a boolean knob takes a bool, not {value!r}")

        def setValue(self, b: Any) -> bool:  # noqa: N802
            return self._set(b)

        def value(self) -> bool:
            return bool(self._value)

    class Unsigned_Knob(Array_Knob):  # noqa: N801
        def setValue(self, val: Any) -> bool:  # noqa: N802
            return self._set(val)

        def value(self) -> int:
            return int(self._value)

    class ColorChip_Knob(Unsigned_Knob):  # noqa: N801
        pass

    class Enumeration_Knob(Unsigned_Knob):  # noqa: N801
        def __init__(self, name: str = "", label: str = "", values: Optional[list] = None) -> None:
            self._values = list(values or [])
            super().__init__(name, label, self._values[0] if self._values else "")

        def _default(self) -> Any:
            return ""

        def values(self) -> list[str]:
            return list(self._values)

        def numValues(self) -> int:  # noqa: N802
            return len(self.values())

        def enumName(self, n: int) -> str:  # noqa: N802
            return self.values()[n]

        def setValues(self, *args: Any, **kwargs: Any) -> None:  # noqa: N802
            self._values = list(args[0])

        def _check(self, value: Any) -> None:
            if isinstance(value, int) and not isinstance(value, bool):
                if not 0 <= value < len(self.values()):
                    raise ValueError(f"{self._name}: no item {value}")
                return
            if value not in self.values():
                raise ValueError(f"{self._name}: {value!r} is not one of the menu's items")

        def setValue(self, *args: Any, **kwargs: Any) -> bool:  # noqa: N802
            value = args[0]
            self._check(value)
            if isinstance(value, int) and not isinstance(value, bool):
                value = self.values()[value]
            return self._set(value)

        def value(self) -> Any:
            return self._value

    class _ColorspaceKnob(Enumeration_Knob):
        """A Read/Write `colorspace` knob: what the live OCIO config offers, in the list form
        the fake was built with (fake_nuke_colour.py)."""

        def __init__(self, name: str = "colorspace", label: str = "input transform") -> None:
            super().__init__(name, label, ["default"])
            self._value = "default"

        def Class(self) -> str:  # noqa: N802 - not recorded; 13.2's stubs have no own class
            return "Enumeration_Knob"

        def values(self) -> list[str]:
            return colorspace_entries(nuke.config, nuke.list_form)

        def _check(self, value: Any) -> None:
            if value not in knob_values(nuke.config):
                raise ValueError(f"colorspace: {value!r} is not in the OCIO config "
                                 f"{nuke.config['OCIO_config']}")

    class String_Knob(Knob):  # noqa: N801
        """Raw text: ayon-nuke keeps JSON node data in String_Knobs and reads it back intact
        (api/lib.py get_node_data), so the fake's String_Knob does not evaluate."""

        def value(self, oc: Any = None) -> str:
            return str(self._value)

        def getText(self, oc: Any = None) -> str:  # noqa: N802
            return str(self._value)

        def getValue(self, *args: Any, **kwargs: Any) -> Any:  # noqa: N802
            return self.value()

        def setValue(self, val: Any, view: Any = None) -> None:  # noqa: N802
            self._set(val)

        def setText(self, *args: Any, **kwargs: Any) -> None:  # noqa: N802
            self._set(args[0])

    class EvalString_Knob(String_Knob):  # noqa: N801
        """value() is the TCL-evaluated text, getText() the raw one (hosts.md §9)."""

        def value(self, oc: Any = None) -> str:
            return tcl_substitute(str(self._value), self._tcl_command)

        def evaluate(self, *args: Any, **kwargs: Any) -> str:
            return self.value()

        def _tcl_command(self, text: str) -> str:
            words = text.split()
            # "value knob" is Nuke's documented tcl command for a knob's value.
            if len(words) == 2 and words[0] == "value":
                owner, _, knob = words[1].rpartition(".")
                node = nuke.toNode(owner) if owner else self._node
                if node is not None and node.knob(knob) is not None:
                    return str(node[knob].value())
            raise TclError(f'invalid command name "{words[0] if words else text}"')

    class Multiline_Eval_String_Knob(EvalString_Knob):  # noqa: N801
        pass

    class File_Knob(EvalString_Knob):  # noqa: N801
        _RANGE = re.compile(r"^(?P<path>.*?)\s+(?P<first>-?\d+)-(?P<last>-?\d+)\s*$")

        def fromUserText(self, *args: Any, **kwargs: Any) -> None:  # noqa: N802
            """Parses a trailing "first-last" and sets the range knobs (hosts.md §2.4)."""
            text = args[0]
            rec.calls.append(("fromUserText", self._owner(), text))
            match = self._RANGE.match(text)
            self._set(match.group("path") if match else text)
            node = self._node
            if match and node is not None:
                first, last = int(match.group("first")), int(match.group("last"))
                for knob in ("first", "origfirst"):
                    if node.knob(knob) is not None:
                        node[knob]._value = first
                for knob in ("last", "origlast"):
                    if node.knob(knob) is not None:
                        node[knob]._value = last

        def value(self, *args: Any, **kwargs: Any) -> str:
            # Nuke normalises #### to printf notation (File_Knob docs, hosts.md §2.4).
            return re.sub(r"#+", lambda m: f"%0{len(m.group(0))}d", str(self._value))

        def getValue(self, *args: Any, **kwargs: Any) -> str:  # noqa: N802
            return self.value()

        def getEvaluatedValue(self, *args: Any, **kwargs: Any) -> str:  # noqa: N802
            return self.value()

        def setValue(self, *args: Any, **kwargs: Any) -> bool:  # noqa: N802
            return self._set(args[0])

    class Script_Knob(String_Knob):  # noqa: N801
        def command(self) -> str:
            return str(self._value)

        def setCommand(self, cmd: str) -> None:  # noqa: N802
            self._set(cmd)

        def setValue(self, cmd: str) -> None:  # noqa: N802
            self._set(cmd)

        def value(self) -> str:
            return str(self._value)

        def execute(self) -> None:
            node = self._node
            saved = nuke._this
            nuke._this = node
            try:
                # A fresh namespace: a button's script must import what it uses.
                exec(compile(self._value, f"<{self._name} knob>", "exec"), {"__name__": "__main__"})
            finally:
                nuke._this = saved

    class PyScript_Knob(Script_Knob):  # noqa: N801
        pass

    class PyCustom_Knob(Script_Knob):  # noqa: N801
        def getObject(self, *args: Any, **kwargs: Any) -> Any:  # noqa: N802
            return getattr(self, "_object", None)

    class Text_Knob(Knob):  # noqa: N801
        def __init__(self, name: str = "", label: str = "", value: str = "") -> None:
            super().__init__(name, label, value)

        def value(self, *args: Any, **kwargs: Any) -> str:
            return str(self._value)

        def setValue(self, *args: Any, **kwargs: Any) -> bool:  # noqa: N802
            return self._set(args[0])

    class Tab_Knob(Knob):  # noqa: N801
        def value(self, *args: Any, **kwargs: Any) -> str:
            return str(self._value)

        def setValue(self, *args: Any, **kwargs: Any) -> bool:  # noqa: N802
            return self._set(args[0])

    return {cls.__name__: cls for cls in (
        Knob, Array_Knob, Double_Knob, Int_Knob, Boolean_Knob, Unsigned_Knob, ColorChip_Knob,
        Enumeration_Knob, _ColorspaceKnob, String_Knob, EvalString_Knob,
        Multiline_Eval_String_Knob, File_Knob, Script_Knob, PyScript_Knob, PyCustom_Knob,
        Text_Knob, Tab_Knob)}
