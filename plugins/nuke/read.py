"""Takes into the script as Read nodes, done the way compositors expect (hosts.md §2.4, §2.5).

- `file` through ``fromUserText`` with the range, so Nuke parses it and reads the format;
- first/last and origfirst/origlast all set, and the clip starting at the shot's frame;
- `colorspace` chosen from the script's live OCIO config, whichever form Nuke lists it in: a
  role only where the list says it is the take's space, else the space by its name or an
  alias (ACES 1.3/2.x spellings, ACES 1.2's "ACES - ACEScg"); read back, never left on
  "default", and `raw` off;
- one undo step (none when refused); provenance JSON in a hidden String_Knob, read raw;
- the latest version of a take green, older ones orange, across the script.

Every change to nodes runs on Nuke's main thread: ``insert_take`` from a worker goes through
``nuke.executeInMainThreadWithResult``. The host facts this follows are hosts.md §9's.
"""
from __future__ import annotations

import json
import re
import threading
from pathlib import Path
from typing import Any, Optional

import nuke

PROVENANCE_KNOB = "genplate_take"
TAB_KNOB = "genplate_tab"
LATEST_COLOUR = 0x4CAF50FF   # green
OUTDATED_COLOUR = 0xE8912DFF  # orange

# Roles that may stand for a take's working space, most specific first.
ROLES_BY_PREFERENCE = ("scene_linear", "compositing_linear", "rendering", "aces_interchange",
                       "color_timing", "compositing_log")
# OCIO's standard role names (OCIO v2 docs), so a bare entry can be told from a bare space.
ROLE_NAMES = frozenset(ROLES_BY_PREFERENCE + (
    "data", "default", "reference", "color_picking", "matte_paint", "texture_paint",
    "cie_xyz_d65_interchange", "scene_reference", "interchange_scene", "interchange_display"))
_FAMILY = re.compile(r"^(?:ACES|Utility|Input|Output|Role|Roles)\s+-\s+", re.IGNORECASE)


class ReadError(RuntimeError):
    """The take cannot become a correct Read (the message says what to change)."""


def _plain(name: str) -> str:
    """A colour space name without its family: "ACES/ACEScg", "ACES - ACEScg" -> "acescg"."""
    name = name.split("/")[-1].strip()
    return _FAMILY.sub("", name).strip().lower()


def parse_colorspace_entries(entries: list[str]) -> tuple[dict[str, Optional[str]],
                                                          dict[str, list[str]]]:
    """({role: the space it resolves to, or None}, {space: [its aliases]}) from
    nuke.getColorspaceList, whichever form this Nuke writes (hosts.md §9):

    - "scene_linear": a bare role (ACES 1.3 configs; ayon-nuke PR #60): its space is unknown;
    - "ACEScg\t\tACES - ACEScg,lin_ap1": a space and its aliases (same record);
    - "scene_linear\t(ACEScg)" or "scene_linear\tscene_linear (ACEScg)": a role and its space
      (older lists; ayon-nuke api/colorspace.py);
    - "default (…)": the node's default, never chosen.

    The knob's value is always the entry's first element (ayon-nuke get_colorspace_list).
    """
    roles: dict[str, Optional[str]] = {}
    spaces: dict[str, list[str]] = {}
    for entry in entries:
        name, _tab, rest = entry.partition("\t")
        name = name.strip()
        rest = rest.strip("\t ")
        if not name or (name.startswith("default") and not rest and "(" in name):
            continue
        target = re.fullmatch(r"(?:" + re.escape(name) + r"\s*)?\((.*)\)", rest) if rest else None
        if target:
            roles[name] = target.group(1).strip()
        elif rest:
            spaces[name] = [a.strip() for a in rest.split(",") if a.strip()]
        elif name in ROLE_NAMES:
            roles[name] = None
        else:
            spaces[name] = []
    return roles, spaces


def choose_colorspace(entries: list[str], working_space: str, *, config_name: str = "") -> str:
    """The colorspace knob value for frames in ``working_space``, under this config.

    A role wins only when the list says it resolves to the take's space (the script keeps
    following its config's intent); a bare role says nothing, so then the space by its name,
    by one of its aliases (an ACES 1.2 spelling such as "ACES - ACEScg", or a name a later
    config renamed), or by its plain name. A space the config does not have is an error, never
    a silent "default": the pixels would be read as something they are not.
    """
    if not working_space:
        raise ReadError("the take records no working space (take.json colour.working_space)")
    roles, spaces = parse_colorspace_entries(entries)
    wanted = _plain(working_space)
    for role in ROLES_BY_PREFERENCE:
        if roles.get(role) and _plain(roles[role]) == wanted:
            return role
    if working_space in spaces:
        return working_space
    for name, aliases in spaces.items():
        if working_space in aliases:
            return name
    for name, aliases in spaces.items():
        if any(_plain(n) == wanted for n in [name, *aliases]):
            return name
    if working_space in roles:  # a take recorded in a role's own name means that role
        return working_space
    where = f" {config_name}" if config_name else ""
    raise ReadError(
        f"the script's OCIO config{where} has no colour space {working_space!r} for this take: "
        f"switch the project to an ACES config (Project Settings > Color > OCIO config), or "
        f"republish the take with --working-space set to one of its spaces")


def live_config_name() -> str:
    root = nuke.root()
    try:
        name = root["OCIO_config"].value()
        if name == "custom":
            name = root["customOCIOConfigPath"].value()
        return str(name)
    except (NameError, KeyError):
        return ""


def pattern_for_nuke(pattern: str) -> str:
    """The take's printf pattern with forward slashes (Nuke's own spelling on every OS)."""
    return pattern.replace("\\", "/")


def read_plan(take: dict, *, start_at: Optional[int] = None) -> dict:
    """What the Read's knobs will be, as plain data (no nuke calls).

    ``start_at`` is the shot's first frame when it differs from the take's (the take starts at
    1001 unless published otherwise): the clip is moved there with frame_mode "start at".
    """
    try:
        first, last = int(take["first"]), int(take["last"])
    except (KeyError, TypeError, ValueError):
        raise ReadError("the take summary has no first/last frame (is it a genplate take?)") from None
    if last < first:
        raise ReadError(f"the take's range {first}-{last} is empty")
    pattern = pattern_for_nuke(str(take.get("pattern") or ""))
    if "%" not in pattern and "#" not in pattern:
        raise ReadError(f"the take's pattern {pattern!r} has no frame number (%04d)")
    version = int(take.get("version") or 0)
    plan: dict[str, Any] = {
        "file_text": f"{pattern} {first}-{last}",
        "first": first, "last": last, "origfirst": first, "origlast": last,
        # "error", as the .nk export does: a published take is complete by construction, so
        # a missing frame is damage, which must stop a render rather than go out black.
        "before": "hold", "after": "hold", "on_error": "error",
        "raw": False,
        "label": f"{take.get('shot')}/{take.get('name')} v{version:03d}\n"
                 f"{take.get('kind') or 'take'} · {take.get('colorspace')}",
        "name": _node_name(take),
        "provenance": provenance(take),
    }
    if start_at is not None and int(start_at) != first:
        plan["frame_mode"] = "start at"
        plan["frame"] = str(int(start_at))
    return plan


def _node_name(take: dict) -> str:
    name = re.sub(r"[^A-Za-z0-9_]", "_", f"{take.get('name') or 'take'}")
    return f"gp_{take.get('shot') or 'shot'}_{name}_v{int(take.get('version') or 0):03d}"


def provenance(take: dict) -> str:
    """The JSON kept on the node: enough to find the take and its provenance record again."""
    keep = ("shot", "name", "version", "kind", "dir", "pattern", "first", "last", "colorspace",
            "fps", "take_json", "job_id", "remote_id", "prompt")
    return json.dumps({k: take.get(k) for k in keep}, sort_keys=True)


def _on_main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


def insert_take(take: dict, *, start_at: Optional[int] = None,
                select: bool = True) -> dict:
    """Make a Read for the take (from any thread; the work happens on the main thread).

    From a worker it goes through ``nuke.executeInMainThreadWithResult``, which prints an
    exception and returns None (Foundry's executeInMain.py): so the main-thread side answers
    with a tagged result, and None is never read as success.
    """
    if not _on_main_thread():
        answer = nuke.executeInMainThreadWithResult(
            _insert_answering, args=(take,), kwargs={"start_at": start_at, "select": select})
        return _insert_answer(answer)
    return insert_take_here(take, start_at=start_at, select=select)


def _insert_answering(take: dict, *, start_at: Optional[int] = None,
                      select: bool = True) -> dict:
    """insert_take_here on the main thread, its outcome as data (never an exception)."""
    try:
        return {"made": insert_take_here(take, start_at=start_at, select=select)}
    except ReadError as exc:
        return {"error": str(exc)}
    except Exception as exc:  # noqa: BLE001 - reported to the worker, which raises it
        return {"error": f"{type(exc).__name__}: {exc}"}


def _insert_answer(answer: Any) -> dict:
    if isinstance(answer, dict) and isinstance(answer.get("made"), dict):
        return answer["made"]
    if isinstance(answer, dict) and answer.get("error"):
        raise ReadError(str(answer["error"]))
    raise ReadError("Nuke's main thread gave no answer for the insert (see the Script Editor "
                    "for its error); nothing was inserted")


def insert_take_here(take: dict, *, start_at: Optional[int] = None, select: bool = True,
                     undo_name: Optional[str] = None) -> dict:
    """Make the Read now; the caller is on the main thread. One undo step, or none at all
    when the take is refused (nuke.Undo.cancel: no empty step in the artist's history)."""
    if not _on_main_thread():
        raise RuntimeError("genplate.nuke.read.insert_take_here must run on Nuke's main thread")
    plan = read_plan(take, start_at=start_at)
    nuke.Undo.begin(undo_name or f"genplate: insert {take.get('name')} "
                                 f"v{int(take.get('version') or 0):03d}")
    node = None
    try:
        node = nuke.nodes.Read()
        # Ask the new node's own knob: it lists exactly what the live config offers a Read.
        colorspace = choose_colorspace(nuke.getColorspaceList(node["colorspace"]),
                                       str(take.get("colorspace") or ""),
                                       config_name=live_config_name())
        taken = {n.name() for n in nuke.allNodes() if n is not node}
        apply_plan(node, {**plan, "name": free_name(plan["name"], taken)}, colorspace)
        if select:
            for other in nuke.selectedNodes():
                other.setSelected(False)
            node.setSelected(True)
        colour_versions(take.get("shot"), take.get("name"))
    except BaseException:
        if node is not None:
            try:
                nuke.delete(node)  # gone even where cancel only discards the step
            except Exception:  # noqa: BLE001 - cancel below undoes the creation anyway
                pass
        nuke.Undo.cancel()
        raise
    nuke.Undo.end()
    return {"node": node.fullName(), "colorspace": colorspace,
            "frames": f"{plan['first']}-{plan['last']}"}


def free_name(wanted: str, taken: set[str]) -> str:
    """``wanted``, or ``wanted_2``, ``_3``...: never Nuke's own renumbering, which counts up a
    trailing number and would turn ..._v001 into a name that reads as another version."""
    if wanted not in taken:
        return wanted
    n = 2
    while f"{wanted}_{n}" in taken:
        n += 1
    return f"{wanted}_{n}"


def apply_plan(node, plan: dict, colorspace: str) -> None:
    """Set a Read's knobs from a plan (main thread, inside the caller's undo group)."""
    node["file"].fromUserText(plan["file_text"])
    # fromUserText set the range from the text; set all four explicitly anyway, because
    # Nuke versions differ in which of them it fills (hosts.md §2.4, ayon _set_range_to_node).
    for knob in ("first", "last", "origfirst", "origlast"):
        node[knob].setValue(plan[knob])
    if node.knob("origset") is not None:
        node["origset"].setValue(True)
    for knob in ("before", "after", "on_error"):
        if node.knob(knob) is not None:
            node[knob].setValue(plan[knob])
    if "frame_mode" in plan:
        node["frame_mode"].setValue(plan["frame_mode"])
        node["frame"].setValue(plan["frame"])
    node["colorspace"].setValue(colorspace)
    got = str(node["colorspace"].value())
    if _plain(got) != _plain(colorspace):
        raise ReadError(f"Nuke kept the Read's colorspace at {got!r} instead of {colorspace!r}")
    node["raw"].setValue(False)
    node["label"].setValue(plan["label"])
    if node.name() != plan["name"]:
        # Nuke's keyword is uncollide (types-nuke; Node.setName's docstring).
        node.setName(plan["name"], uncollide=True)
    knob = node.knob(PROVENANCE_KNOB)
    if knob is not None and knob.Class() != "String_Knob":
        node.removeKnob(knob)  # Reads made before kept it in a TCL-evaluated knob
        knob = None
    if knob is None:
        # JSON holds "[" and "$": a String_Knob keeps it raw; Eval knobs would run it as TCL.
        knob = nuke.String_Knob(PROVENANCE_KNOB, "genplate take")
        knob.setFlag(nuke.INVISIBLE)
        node.addKnob(knob)
    knob.setValue(plan["provenance"])


def take_of(node) -> Optional[dict]:
    """The provenance a genplate Read carries, or None for any other node."""
    knob = node.knob(PROVENANCE_KNOB) if hasattr(node, "knob") else None
    if knob is None:
        return None
    try:
        data = json.loads(knob.getText() or "{}")  # raw text: never TCL-evaluated
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def latest_version_on_disk(take: dict) -> Optional[int]:
    """The highest published version beside this take's folder (v### with a take.json)."""
    folder = take.get("dir")
    if not folder:
        return None
    versions = []
    try:
        for entry in Path(folder).parent.iterdir():
            if re.fullmatch(r"v\d{3,}", entry.name) and (entry / "take.json").exists():
                versions.append(int(entry.name[1:]))
    except OSError:
        return None
    return max(versions) if versions else None


def colour_versions(shot: Optional[str] = None, name: Optional[str] = None) -> int:
    """Green for the latest version of each take, orange for older ones; returns nodes coloured.

    Latest means latest published (on disk), not latest in the script: an artist holding v002
    while v003 exists sees orange.
    """
    groups: dict[tuple, list] = {}
    for node in nuke.allNodes("Read", recurseGroups=True):
        data = take_of(node)
        if not data or (shot and data.get("shot") != shot) or (name and data.get("name") != name):
            continue
        groups.setdefault((data.get("shot"), data.get("name")), []).append((node, data))
    coloured = 0
    for members in groups.values():
        newest = max((latest_version_on_disk(d) or 0) for _n, d in members)
        newest = max([newest] + [int(d.get("version") or 0) for _n, d in members])
        for node, data in members:
            colour = LATEST_COLOUR if int(data.get("version") or 0) >= newest else OUTDATED_COLOUR
            if node["tile_color"].value() != colour:
                node["tile_color"].setValue(colour)
            coloured += 1
    return coloured


__all__ = ["ReadError", "choose_colorspace", "parse_colorspace_entries", "read_plan",
           "insert_take", "insert_take_here", "apply_plan", "take_of", "colour_versions",
           "free_name",
           "PROVENANCE_KNOB", "LATEST_COLOUR", "OUTDATED_COLOUR"]
