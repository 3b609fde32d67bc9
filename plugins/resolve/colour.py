"""A take's OCIO colour space, told to Resolve as the clip's input colour space.

Resolve does not speak OCIO names. A colour-managed project (DaVinci YRGB Color Managed, "RCM")
reads a clip's "Input Color Space" property; an ACES project (ACEScct/ACEScc) reads its "IDT"
(hosts.md §3.6). The names below are Resolve's own spellings as public integrations use them;
they are unverified on a real install (hosts.md §8), so each OCIO name maps to a short list of
candidates tried in order, every attempt is read back, and a studio can put its own table in
``$GENPLATE_RESOLVE_COLOURSPACES`` (JSON: {"rcm": {ocio: [names]}, "aces": {...}}).

The colour-science workaround (ayon-resolve ``load_media.py``, forum.blackmagicdesign.com
t=197441): Resolve refuses "Input Color Space" unless the project is in
``davinciYRGBColorManagedv2``, even where the UI allows it. So a project in plain DaVinci YRGB
is switched to colour managed, the clip is set and read back, and the project is switched back,
and that restore is checked too: leaving an artist's project in another colour science would be
worse than a wrong clip tag.
"""
from __future__ import annotations

import json
import os
from typing import Any

RCM_MODE = "davinciYRGBColorManagedv2"
SCIENCE_SETTING = "colorScienceMode"
INPUT_PROPERTY = "Input Color Space"
IDT_PROPERTY = "IDT"
TABLE_ENV = "GENPLATE_RESOLVE_COLOURSPACES"

# OCIO colour space (normalised, see canonical()) -> Resolve names, most likely first.
RCM_NAMES: dict[str, list[str]] = {
    "acescg": ["ACEScg", "ACES (AP1) Linear", "ACES AP1 Linear"],
    "aces2065-1": ["ACES2065-1", "ACES (AP0) Linear", "ACES AP0 Linear"],
    "acescct": ["ACEScct"],
    "acescc": ["ACEScc"],
    "linear rec.709 (srgb)": ["Rec.709 Linear", "Linear"],
    "linear p3-d65": ["P3-D65 Linear"],
    "linear rec.2020": ["Rec.2020 Linear"],
    "srgb - texture": ["sRGB"],
    "srgb encoded rec.709 (srgb)": ["sRGB"],
    "gamma 2.4 rec.709": ["Rec.709 Gamma 2.4"],
    "rec.1886 rec.709 - display": ["Rec.709 Gamma 2.4"],
    "rec.2100-pq - display": ["Rec.2100 ST2084"],
    "rec.2100-hlg - display": ["Rec.2100 HLG"],
}
ACES_NAMES: dict[str, list[str]] = {
    # An ACES project's working space is AP0-referred: ACES2065-1 frames need no transform.
    "aces2065-1": ["No Input Transform"],
    "acescg": ["ACEScg - CSC", "ACEScg"],
    "acescct": ["ACEScct - CSC", "ACEScct"],
    "acescc": ["ACEScc - CSC", "ACEScc"],
    "srgb - texture": ["sRGB (Linear) - CSC", "sRGB"],
    "srgb encoded rec.709 (srgb)": ["sRGB (Linear) - CSC", "sRGB"],
    "linear rec.709 (srgb)": ["Rec.709 (Linear) - CSC", "Rec.709 Linear"],
    "gamma 2.4 rec.709": ["Rec.709"],
    "rec.1886 rec.709 - display": ["Rec.709"],
}
# OCIO roles and older (ACES 1.2, OCIO v1) spellings of the same spaces.
ALIASES = {
    "aces_interchange": "aces2065-1",
    "scene_linear": "acescg",
    "rendering": "acescg",
    "compositing_linear": "acescg",
    "color_timing": "acescct",
    "compositing_log": "acescct",
    "aces - aces2065-1": "aces2065-1",
    "aces - acescg": "acescg",
    "aces - acescct": "acescct",
    "aces - acescc": "acescc",
    "utility - linear - srgb": "linear rec.709 (srgb)",
    "utility - linear - rec.709": "linear rec.709 (srgb)",
    "utility - srgb - texture": "srgb - texture",
    "lin_rec709": "linear rec.709 (srgb)",
    "lin_srgb": "linear rec.709 (srgb)",
    "srgb_tx": "srgb - texture",
    "g24_rec709": "gamma 2.4 rec.709",
    "gamma 2.4 rec.709 - texture": "gamma 2.4 rec.709",
}


class ColourSpaceError(RuntimeError):
    """Resolve did not take (or keep) the colour space; the message says what to do by hand."""


def canonical(ocio_name: str) -> str:
    """An OCIO colour space name as the tables key it (case- and alias-insensitive)."""
    key = " ".join(str(ocio_name).strip().lower().split())
    return ALIASES.get(key, key)


def project_kind(science_mode: str) -> str:
    """"aces" (ACEScct/ACEScc project), "rcm" (colour managed) or "yrgb" (not managed)."""
    mode = (science_mode or "").strip().lower()
    if mode.startswith("aces"):
        return "aces"
    if "colormanaged" in mode:
        return "rcm"
    return "yrgb"


def _studio_table() -> dict:
    path = os.environ.get(TABLE_ENV, "").strip()
    if not path:
        return {}
    try:
        data = json.loads(open(path, encoding="utf-8").read())
    except (OSError, ValueError) as exc:
        raise ColourSpaceError(f"{TABLE_ENV}={path} is not a readable JSON table: {exc}") from None
    if not isinstance(data, dict):
        raise ColourSpaceError(f"{TABLE_ENV}={path} must hold a JSON object {{\"rcm\": ..., \"aces\": ...}}")
    return data


def resolve_names(ocio_name: str, kind: str) -> list[str]:
    """Resolve's candidate names for an OCIO space in a project of ``kind`` ("rcm"/"aces").

    A studio table entry comes first; the built-in candidates follow. Empty when nobody knows
    the space: the caller then says so instead of guessing.
    """
    table_kind = "aces" if kind == "aces" else "rcm"
    key = canonical(ocio_name)
    names: list[str] = []
    studio = _studio_table().get(table_kind, {})
    if isinstance(studio, dict):
        for k, v in studio.items():
            if canonical(k) == key:
                names += [v] if isinstance(v, str) else [str(x) for x in v]
    names += (ACES_NAMES if table_kind == "aces" else RCM_NAMES).get(key, [])
    seen: set[str] = set()
    return [n for n in names if not (n in seen or seen.add(n))]


def set_input_colour_space(project: Any, clip: Any, ocio_name: str) -> dict:
    """Tag ``clip`` (a MediaPoolItem) with the take's colour space; read back and checked.

    Returns {"ocio", "property", "value", "project_mode", "switched"}; raises ColourSpaceError
    when no candidate sticks or the project's colour science could not be restored.
    """
    original = project.GetSetting(SCIENCE_SETTING) or ""
    kind = project_kind(original)
    prop = IDT_PROPERTY if kind == "aces" else INPUT_PROPERTY
    names = resolve_names(ocio_name, kind)
    if not names:
        raise ColourSpaceError(
            f"genplate does not know Resolve's name for the colour space {ocio_name!r} in a "
            f"{'ACES' if kind == 'aces' else 'colour-managed'} project; set the clip's "
            f"{prop} by hand (Clip Attributes > Color Space) or add it to ${TABLE_ENV}")

    switched = False
    chosen = None
    tried: list[str] = []
    try:
        if kind == "yrgb":
            if not project.SetSetting(SCIENCE_SETTING, RCM_MODE):
                raise ColourSpaceError(
                    f"Resolve refused to switch the project's colour science from {original!r} "
                    f"to {RCM_MODE!r} while tagging the clip; set the clip's {prop} to "
                    f"{names[0]!r} by hand (Clip Attributes > Color Space)")
            switched = True
        for name in names:
            tried.append(name)
            if clip.SetClipProperty(prop, name) and clip.GetClipProperty(prop) == name:
                chosen = name
                break
    finally:
        if switched:
            restored = project.SetSetting(SCIENCE_SETTING, original) and \
                project.GetSetting(SCIENCE_SETTING) == original
            if not restored:
                raise ColourSpaceError(
                    f"the project's colour science could not be switched back to {original!r} "
                    f"after tagging the clip: set Project Settings > Color Management > Color "
                    f"science back to it by hand")
    if chosen is None:
        raise ColourSpaceError(
            f"Resolve did not accept the clip's {prop} as any of {tried} for the take's "
            f"{ocio_name!r} (project colour science {original or 'unknown'!s}); set it by hand in "
            f"Clip Attributes > Color Space, and put Resolve's name in ${TABLE_ENV}")
    return {"ocio": ocio_name, "property": prop, "value": chosen, "project_mode": original,
            "switched": switched}


__all__ = ["ColourSpaceError", "RCM_MODE", "INPUT_PROPERTY", "IDT_PROPERTY", "TABLE_ENV",
           "canonical", "project_kind", "resolve_names", "set_input_colour_space"]
