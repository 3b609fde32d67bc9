"""Takes as a Nuke snippet: Read nodes in the text Nuke puts on the clipboard when nodes are copied.

The file can be pasted into any node graph (or loaded with File > Insert Comp / nodePaste), so a
take reaches Nuke without the plugin and without a running engine. Every value written into the
snippet is a TCL word, and Nuke evaluates ``[...]`` and ``$name`` in what it reads: text from
outside (a prompt, a path) is always escaped by ``tcl_quote``.
"""
from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Iterable, Optional

from ..secrets import redact
from ..atomic import write_text_atomically
from .layout import TakeError
from .take import Take

# Node colours (0xRRGGBBAA): the latest version green, older versions orange, like pipelines
# mark outdated loads. The same two values as plugins/nuke/read.py (LATEST_COLOUR,
# OUTDATED_COLOUR; the plugin cannot import core), so pasted nodes and inserted ones agree.
LATEST_TILE_COLOR = 0x4CAF50FF
OLDER_TILE_COLOR = 0xE8912DFF

# The knob plugins/nuke/read.py reads (take_of) to recognise a genplate Read and recolour the
# versions of a take across the script; its JSON holds these summary keys.
PLUGIN_TAKE_KNOB = "genplate_take"
_PLUGIN_TAKE_KEYS = ("shot", "name", "version", "kind", "dir", "pattern", "first", "last",
                     "colorspace", "fps", "take_json", "job_id", "remote_id", "prompt")

# The Nuke release the snippet claims to come from. Every knob below exists since Nuke 12, and
# an older claim only means Nuke upgrades it silently on paste.
NUKE_VERSION_LINE = "version 14.0 v5"

X_SPACING = 120  # a Read node is 80 px wide: one node's gap between neighbours
_BARE_WORD = re.compile(r"[A-Za-z0-9_.:/%+@-]+")
_TCL_ESCAPES = {"\\": "\\\\", '"': '\\"', "[": "\\[", "$": "\\$", "{": "\\{", "}": "\\}",
                "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def tcl_quote(text: str) -> str:
    """A TCL word for ``text`` that Nuke reads back as exactly ``text`` (never evaluated).

    ``[`` and ``$`` would run commands or expand variables; braces would unbalance the node's
    ``{ ... }`` block, which Nuke splits by counting unescaped braces; quotes, backslashes and
    newlines would end or bend the word. This is the escaping Nuke itself writes.
    """
    if text and _BARE_WORD.fullmatch(text):
        return text
    out = []
    for ch in text:
        if ch in _TCL_ESCAPES:
            out.append(_TCL_ESCAPES[ch])
        elif ord(ch) < 0x20 or ch == "\x7f":
            continue  # other control characters have no business in a knob value
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def node_name(take: Take) -> str:
    """``<take>_v###`` as a Nuke node name (letters, digits and "_", not starting with a digit)."""
    name = re.sub(r"[^A-Za-z0-9_]", "_", f"{take.name}_{take.label}")
    return name if not name[0].isdigit() else "_" + name


def _frame_size(take: Take) -> Optional[tuple[int, int]]:
    if take.width and take.height:
        return int(take.width), int(take.height)
    try:  # older records: ask the first frame
        import OpenImageIO as oiio

        inp = oiio.ImageInput.open(take.pattern % take.first)
        if inp is None:
            return None
        spec = inp.spec()
        inp.close()
        return spec.width, spec.height
    except Exception:
        return None  # Nuke reads the format from the file when the knob is absent


def read_node(take: Take, *, name: Optional[str] = None, xpos: int = 0, ypos: int = 0) -> str:
    """One ``Read { ... }`` block for a take."""
    knobs: list[tuple[str, str]] = [
        ("inputs", "0"),
        ("file_type", "exr"),
        ("file", tcl_quote(take.pattern.replace("\\", "/"))),
    ]
    size = _frame_size(take)
    if size:
        width, height = size
        # A name-less format: Nuke matches it to a known format of that size or makes one.
        knobs.append(("format", f'"{width} {height} 0 0 {width} {height} 1 "'))
    knobs += [
        ("first", str(take.first)),
        ("last", str(take.last)),
        ("origfirst", str(take.first)),
        ("origlast", str(take.last)),
        ("origset", "true"),
        # A published take is complete by construction (its folder is renamed into place
        # whole), so a missing frame means damage or a half-synced copy: stop with an error
        # rather than render black frames into a comp nobody notices until the client does.
        ("on_error", "error"),
    ]
    if take.colorspace:
        # The explicit name recorded at publish time, not the role "scene_linear": Nuke checks
        # the name against the script's live config, so a config without it fails loudly on
        # paste, while a role resolves silently to whatever that config calls scene linear
        # (plain linear Rec.709 in nuke-default) and would mis-read ACEScg pixels.
        knobs.append(("colorspace", tcl_quote(take.colorspace)))
    knobs += [
        # The pixels are in the working space and must go through the input transform (an
        # identity when the script works in that same space).
        ("raw", "false"),
        ("name", name or node_name(take)),
        ("label", tcl_quote(_label(take))),
        ("tile_color", f"0x{(LATEST_TILE_COLOR if take.latest else OLDER_TILE_COLOR):08x}"),
        ("xpos", str(xpos)),
        ("ypos", str(ypos)),
    ]
    lines = ["Read {"] + [f" {knob} {value}" for knob, value in knobs]
    provenance = json.dumps(take.provenance(), ensure_ascii=True, indent=1, sort_keys=False)
    lines += [
        " addUserKnob {20 genplate}",
        f" addUserKnob {{43 {PLUGIN_TAKE_KNOB} l \"genplate take\" +INVISIBLE}}",
        f" {PLUGIN_TAKE_KNOB} {tcl_quote(_plugin_take_json(take))}",
        " addUserKnob {43 genplate_provenance l provenance +INVISIBLE}",
        f" genplate_provenance {tcl_quote(provenance)}",
        "}",
    ]
    return "\n".join(lines)


def _label(take: Take) -> str:
    # The plugin's label (plugins/nuke/read.py read_plan): where it came from, then what it is.
    space = take.colorspace or "default"
    return f"{take.shot}/{take.name} {take.label}\n{take.kind} \u00b7 {space}"


def _plugin_take_json(take: Take) -> str:
    summary = take.summary()
    return json.dumps({k: redact(summary[k]) if isinstance(summary[k], str) else summary[k]
                       for k in _PLUGIN_TAKE_KEYS}, sort_keys=True)


def nuke_snippet(takes: Iterable[Take]) -> str:
    """The snippet text: one Read node per take, side by side, in the order given."""
    takes = list(takes)
    if not takes:
        raise TakeError("no takes to export: name at least one take")
    names: set[str] = set()
    blocks = []
    for index, take in enumerate(takes):
        name = node_name(take)
        if name in names:  # the same take name in two shots
            name = re.sub(r"[^A-Za-z0-9_]", "_", f"{take.shot}_{name}")
        base, n = name, 1
        while name in names:
            n += 1
            name = f"{base}_{n}"
        names.add(name)
        blocks.append(read_node(take, name=name, xpos=index * X_SPACING, ypos=0))
    return "\n".join(["set cut_paste_input [stack 0]", NUKE_VERSION_LINE, *blocks]) + "\n"


def write_nuke_snippet(takes: Iterable[Take], path: os.PathLike | str) -> Path:
    """Write the snippet to ``path`` atomically (a reader sees the old file or the new one)."""
    return write_text_atomically(path, nuke_snippet(takes))


__all__ = ["write_nuke_snippet", "nuke_snippet", "read_node", "tcl_quote", "node_name",
           "LATEST_TILE_COLOR", "OLDER_TILE_COLOR"]
