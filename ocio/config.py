"""Which OCIO config is in force, and the colour spaces genplate needs from it.

Precedence: an explicit path or ``ocio://`` URI > ``$OCIO`` > the host's config (the panel of
Nuke or Resolve passes its live config) > the pinned built-in ACES studio config. Colour spaces
are looked up by role first (``scene_linear``, ``aces_interchange``, ``color_timing``,
``compositing_log``), then by name and alias, so an ACES 1.3 config, an ACES 2.x config and a
studio's own config all work without genplate knowing their spelling.
"""
from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Mapping, Optional, Sequence

import PyOpenColorIO as ocio

from .builtin import BUILTIN_CONFIG
from .errors import ConfigError

HOST_CONFIG_ENV = "GENPLATE_HOST_OCIO"
"""Set by a host's panel when it runs the engine: the config the host itself is using."""

ROLE_SCENE_LINEAR = "scene_linear"
ROLE_INTERCHANGE = "aces_interchange"
LOG_ROLES = ("color_timing", "compositing_log")

# The ACES chromaticities (ST 2065-1, S-2014-004) and the common display primaries, in the EXR
# header order (red xy, green xy, blue xy, white xy). OCIO does not expose primaries, so named
# spaces map to these and anything else is measured (see chromaticities()).
AP0 = (0.7347, 0.2653, 0.0, 1.0, 0.0001, -0.077, 0.32168, 0.33767)
AP1 = (0.713, 0.293, 0.165, 0.830, 0.128, 0.044, 0.32168, 0.33767)
REC709 = (0.64, 0.33, 0.30, 0.60, 0.15, 0.06, 0.3127, 0.3290)
REC2020 = (0.708, 0.292, 0.170, 0.797, 0.131, 0.046, 0.3127, 0.3290)
P3D65 = (0.680, 0.320, 0.265, 0.690, 0.150, 0.060, 0.3127, 0.3290)

# Names, aliases and interop IDs (lower case) known to carry each set of primaries. The interop
# IDs are the Color Interop Forum's (what OIIO writes as colorInteropID).
_PRIMARIES_BY_NAME: dict[str, tuple[float, ...]] = {}
for _prims, _names in (
    (AP0, ("aces2065-1", "aces2065_1", "aces - aces2065-1", "lin_ap0", "lin_ap0_scene", "aces")),
    (AP1, ("acescg", "aces - acescg", "lin_ap1", "lin_ap1_scene", "acescct", "aces - acescct",
           "acescct_ap1", "ocio:acescct_ap1_scene", "acescc", "aces - acescc", "acescc_ap1")),
    (REC709, ("linear rec.709 (srgb)", "lin_rec709_srgb", "lin_rec709", "lin_srgb",
              "lin_rec709_scene", "utility - linear - srgb", "utility - linear - rec.709")),
    (REC2020, ("linear rec.2020", "lin_rec2020", "lin_rec2020_scene",
               "utility - linear - rec.2020")),
    (P3D65, ("linear p3-d65", "lin_p3d65", "lin_p3d65_scene", "utility - linear - p3-d65")),
):
    for _name in _names:
        _PRIMARIES_BY_NAME[_name] = _prims

# Interop IDs for scene-linear spaces with known primaries, for configs older than OCIO 2.5
# that carry none (the ACES 1.3 configs): OIIO writes the ID as colorInteropID.
_LINEAR_INTEROP = {AP0: "lin_ap0_scene", AP1: "lin_ap1_scene", REC709: "lin_rec709_scene",
                   REC2020: "lin_rec2020_scene", P3D65: "lin_p3d65_scene"}

# ACES AP0 RGB -> CIE XYZ (ACES white), for measuring the primaries of an unnamed linear space.
_AP0_TO_XYZ = (
    (0.9525523959, 0.0, 0.0000936786),
    (0.3439664498, 0.7281660966, -0.0721325464),
    (0.0, 0.0, 1.0088251844),
)


@dataclass(frozen=True)
class ConfigInfo:
    """A loaded config and where it came from (recorded in take.json and EXR headers)."""

    config: ocio.Config = field(repr=False, compare=False)
    uri: str
    origin: str  # "explicit" | "$OCIO" | "host" | "built-in"
    name: str
    cache_id: str

    def record(self) -> dict:
        return {"uri": self.uri, "origin": self.origin, "name": self.name,
                "cache_id": self.cache_id}

    @property
    def label(self) -> str:
        """One short string for an EXR header: the config's name, else its path."""
        return self.name or self.uri


_loaded: dict[tuple, ConfigInfo] = {}
_load_lock = threading.Lock()


def resolve_config(explicit: Optional[str] = None, *, host_config: Optional[str] = None,
                   environ: Optional[Mapping[str, str]] = None) -> ConfigInfo:
    """The config in force: explicit > $OCIO > host config (argument or $GENPLATE_HOST_OCIO) >
    the pinned built-in studio config."""
    env = os.environ if environ is None else environ
    host = host_config or env.get(HOST_CONFIG_ENV) or None
    for value, origin in ((explicit, "explicit"), (env.get("OCIO") or None, "$OCIO"),
                          (host, "host")):
        if value:
            return load_config(value, origin=origin)
    return load_config(BUILTIN_CONFIG, origin="built-in")


def load_config(uri: str, *, origin: str = "explicit") -> ConfigInfo:
    """Load a config once per process (keyed by its path and modification time)."""
    uri = str(uri)
    if uri.endswith("-latest") or uri in ("ocio://default",):
        # OIIO's bundled OCIO and PyOpenColorIO resolve these to different configs.
        raise ConfigError(f"OCIO config {uri!r} is not pinned: name the exact built-in config "
                          f"(e.g. {BUILTIN_CONFIG}) so every tool reads the same one")
    is_uri = uri.startswith("ocio://")
    if not is_uri:
        path = Path(uri).expanduser()
        if not path.is_file():
            raise ConfigError(f"OCIO config {uri} ({origin}) does not exist: give the path of a "
                              f".ocio file or an ocio:// built-in config name")
        uri = str(path.resolve())
        stamp: object = path.stat().st_mtime_ns
    else:
        stamp = None
    key = (uri, stamp)
    with _load_lock:
        info = _loaded.get(key)
        if info is not None:
            return ConfigInfo(info.config, info.uri, origin, info.name, info.cache_id)
        try:
            config = ocio.Config.CreateFromFile(uri)
            config.validate()
        except Exception as exc:  # OCIO raises its own Exception type with the parser's words
            raise ConfigError(f"OCIO config {uri} ({origin}) cannot be loaded: {exc}") from None
        info = ConfigInfo(config, uri, origin, config.getName() or "", config.getCacheID())
        _loaded[key] = info
        return info


def find_space(config: ocio.Config, *candidates: str) -> Optional[str]:
    """The canonical name of the first candidate (a name or alias) the config has."""
    for candidate in candidates:
        if not candidate:
            continue
        space = config.getColorSpace(candidate)
        if space is not None:
            return space.getName()
    return None


def role_space(config: ocio.Config, *roles: str) -> Optional[str]:
    """The colour space of the first role the config defines."""
    for role in roles:
        if config.hasRole(role):
            name = find_space(config, config.getRoleColorSpace(role))
            if name:
                return name
    return None


def working_space(config: ocio.Config, requested: Optional[str] = None) -> str:
    """The space takes are published in: the requested name, alias or role, else scene_linear."""
    if requested:
        name = role_space(config, requested) or find_space(config, requested)
        if name is None:
            raise ConfigError(f"working space {requested!r} is not a colour space, alias or "
                              f"role of this OCIO config; try one of: "
                              f"{', '.join(_some_spaces(config))}")
        return name
    name = role_space(config, ROLE_SCENE_LINEAR) or find_space(config, "ACEScg", "lin_ap1")
    if name is None:
        raise ConfigError("the OCIO config has no scene_linear role and no ACEScg: name the "
                          "working space (--working-space)")
    return name


def interchange_space(config: ocio.Config) -> str:
    """ACES2065-1 as this config knows it (the aces_interchange role first)."""
    name = role_space(config, ROLE_INTERCHANGE) or find_space(config, "ACES2065-1", "lin_ap0")
    if name is None:
        raise ConfigError("the OCIO config has no aces_interchange role and no ACES2065-1 space; "
                          "genplate needs it to read ACES EXR deliveries")
    return name


def log_space(config: ocio.Config) -> Optional[str]:
    """The grading log space (ACEScct in the ACES configs): color_timing, then compositing_log."""
    return role_space(config, *LOG_ROLES) or find_space(config, "ACEScct", "acescct_ap1")


def interop_id(config: ocio.Config, space: str) -> Optional[str]:
    """The Color Interop Forum ID of a space (OCIO >= 2.5 configs carry it; for older configs a
    scene-linear space with known primaries gets the standard ID)."""
    cs = config.getColorSpace(space)
    if cs is None:
        return None
    getter = getattr(cs, "getInteropID", None)
    value = getter() if getter else ""
    if value:
        return value
    if cs.getEncoding() == "scene-linear" or _is_linear(config, cs.getName()):
        prims = _named_primaries(config, cs.getName())
        if prims is not None:
            return _LINEAR_INTEROP.get(prims)
    return None


def chromaticities(config: ocio.Config, space: str) -> Optional[tuple[float, ...]]:
    """The eight EXR chromaticities of a space, or None when it has no defined primaries.

    Found by name, alias, interop ID or role (AP0, AP1, Rec.709, Rec.2020, P3-D65); for any other
    linear space, measured by pushing its primaries through the config to ACES2065-1.
    """
    cs = config.getColorSpace(space)
    if cs is None:
        raise ConfigError(f"colour space {space!r} is not in the OCIO config")
    if cs.isData():
        return None
    prims = _named_primaries(config, cs.getName())
    if prims is not None:
        return prims
    return _measured_primaries(config, cs.getName())


def primaries_name(chroma: Optional[Sequence[float]], tolerance: float = 2e-3) -> Optional[str]:
    """"AP0", "AP1", "Rec.709", "Rec.2020" or "P3-D65" for a chromaticities tuple, else None."""
    if chroma is None or len(chroma) != 8:
        return None
    for name, ref in (("AP0", AP0), ("AP1", AP1), ("Rec.709", REC709), ("Rec.2020", REC2020),
                      ("P3-D65", P3D65)):
        if all(abs(float(a) - b) <= tolerance for a, b in zip(chroma, ref)):
            return name
    return None


def linear_space_for_primaries(config: ocio.Config, name: str) -> Optional[str]:
    """The config's scene-linear space with these primaries ("AP0" -> ACES2065-1, ...)."""
    if name == "AP0":
        return interchange_space(config)
    candidates = {
        "AP1": ("ACEScg", "lin_ap1_scene", "lin_ap1"),
        "Rec.709": ("Linear Rec.709 (sRGB)", "lin_rec709_scene", "lin_rec709", "lin_srgb",
                    "Utility - Linear - sRGB"),
        "Rec.2020": ("Linear Rec.2020", "lin_rec2020_scene", "lin_rec2020",
                     "Utility - Linear - Rec.2020"),
        "P3-D65": ("Linear P3-D65", "lin_p3d65_scene", "lin_p3d65", "Utility - Linear - P3-D65"),
    }.get(name, ())
    if name == "AP1":
        scene = role_space(config, ROLE_SCENE_LINEAR)
        if scene and _named_primaries(config, scene) == AP1:
            return scene
    return find_space(config, *candidates)


# -- displays and views ----------------------------------------------------------------------

def find_display(config: ocio.Config, candidates: Iterable[str]) -> Optional[str]:
    """The first display (exact name, then case-insensitively) the config has."""
    displays = list(config.getDisplays())
    lowered = {d.lower(): d for d in displays}
    for candidate in candidates:
        if candidate in displays:
            return candidate
        if candidate.lower() in lowered:
            return lowered[candidate.lower()]
    return None


def find_view(config: ocio.Config, display: str, preferred: Sequence[str],
              must_contain: Sequence[Sequence[str]] = ()) -> Optional[str]:
    """A view of ``display``: the first preferred name, else the first view whose name holds
    every word of one of the ``must_contain`` groups (in order of the groups)."""
    views = list(config.getViews(display))
    for name in preferred:
        if name in views:
            return name
    for words in must_contain:
        for view in views:
            low = view.lower()
            if all(w.lower() in low for w in words) and "sim" not in low:
                return view
    return None


def default_display_view(config: ocio.Config) -> tuple[str, str]:
    display = config.getDefaultDisplay()
    view = config.getDefaultView(display)
    if not display or not view:
        raise ConfigError("the OCIO config has no default display and view")
    return display, view


# -- helpers ---------------------------------------------------------------------------------

def _names_of(config: ocio.Config, space: str) -> list[str]:
    cs = config.getColorSpace(space)
    if cs is None:
        return []
    names = [cs.getName(), *cs.getAliases()]
    getter = getattr(cs, "getInteropID", None)
    if getter and getter():
        names.append(getter())
    return [n.lower() for n in names]


def _named_primaries(config: ocio.Config, space: str) -> Optional[tuple[float, ...]]:
    for name in _names_of(config, space):
        if name in _PRIMARIES_BY_NAME:
            return _PRIMARIES_BY_NAME[name]
    # A role pointing at the space tells us too (a studio config's own name for ACES2065-1).
    if config.hasRole(ROLE_INTERCHANGE) and find_space(
            config, config.getRoleColorSpace(ROLE_INTERCHANGE)) == space:
        return AP0
    return None


def _is_linear(config: ocio.Config, space: str) -> bool:
    return _linear_matrix_to_ap0(config, space) is not None


def _linear_matrix_to_ap0(config: ocio.Config, space: str):
    """The 3x3 matrix taking ``space`` to ACES2065-1, if the conversion is linear."""
    import numpy as np

    try:
        target = interchange_space(config)
        cpu = config.getProcessor(space, target).getDefaultCPUProcessor()
    except Exception:
        return None
    probe = np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1], [0.25, 0, 0], [0, 0.25, 0], [0, 0, 0.25],
                      [0.5, 0.5, 0.5], [4.0, 4.0, 4.0]], np.float32)
    cpu.applyRGB(probe)
    m = probe[:3].T.astype(np.float64)
    expect = np.concatenate([m.T * 0.25, [m @ [0.5, 0.5, 0.5]], [m @ [4.0, 4.0, 4.0]]])
    if not np.allclose(probe[3:], expect, rtol=1e-3, atol=1e-5):
        return None
    return m


def _measured_primaries(config: ocio.Config, space: str) -> Optional[tuple[float, ...]]:
    import numpy as np

    m = _linear_matrix_to_ap0(config, space)
    if m is None:
        return None
    xyz = np.array(_AP0_TO_XYZ) @ m
    out: list[float] = []
    for col in (xyz[:, 0], xyz[:, 1], xyz[:, 2], xyz.sum(axis=1)):
        total = float(col.sum())
        if abs(total) < 1e-9:
            return None
        out += [round(float(col[0]) / total, 5), round(float(col[1]) / total, 5)]
    return tuple(out)


def _some_spaces(config: ocio.Config, limit: int = 12) -> list[str]:
    names = list(config.getColorSpaceNames())
    roles = [r for r, _ in config.getRoles()]
    return (roles + names)[:limit]
