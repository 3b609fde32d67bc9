"""Source kinds and the transform that takes each to the working space (color.md §1.5).

| source kind | display-match (plates, the default)           | texture                        |
|-------------|-----------------------------------------------|--------------------------------|
| sdr-rec709  | inverse Rec.1886 Rec.709 display + SDR view    | BT.1886 (mirrored 2.4 power)   |
| sdr-srgb    | inverse sRGB display + SDR view                | sRGB Encoded Rec.709 -> dst    |
| hdr-pq      | inverse Rec.2100-PQ display + HDR Rec.2020 view| Rec.2100-PQ display -> dst     |
| hdr-hlg     | HLG display -> PQ display, then as hdr-pq      | Rec.2100-HLG display -> dst    |
| exr         | the file's scene-linear space -> dst (no-op when they are the same)             |

Display-match inverts the config's display *and* view: seen through that view in Nuke or
Resolve, the plate looks as the MP4 did on its monitor (values up to ~128 for SDR white under
ACES 2.0). Texture inverts only the display encoding, values stay 0-1 (what the studio config's
file rules do for .mp4); for HDR it is the absolute reading, 100 nits = 1.0. The names are found
in the config, ACES 2.x spelling first, then ACES 1.3's, then by the words they contain.

HLG goes through the PQ display because the ACES 2 configs give the HLG display one view only,
limited to P3-D65: Rec.2020 colours outside P3 do not come back through it (ΔE_ITP 20-60). The
config's own Rec.2100-HLG and Rec.2100-PQ display spaces (both display-referred, so converting
between them is the same light on another encoding, a 1000-nit HLG system) take HLG to PQ,
and the Rec.2020-limited PQ view is inverted from there.

SDR texture for BT.1886 is the 2.4 power mirrored about black, built from OCIO's own
ExponentTransform: the config's "Gamma 2.4 Encoded" space passes negative codes through
linearly (a sub-black code of -0.05 would become -0.05 of light, as bright as code 0.29 is),
and the display spaces of different config generations mirror or clamp them.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import PyOpenColorIO as ocio

from .config import find_display, find_space, find_view
from .errors import ColourError, ConfigError

SDR_REC709 = "sdr-rec709"
SDR_SRGB = "sdr-srgb"
HDR_PQ = "hdr-pq"
HDR_HLG = "hdr-hlg"
EXR = "exr"
SOURCE_KINDS = (SDR_REC709, SDR_SRGB, HDR_PQ, HDR_HLG, EXR)
VIDEO_KINDS = (SDR_REC709, SDR_SRGB, HDR_PQ, HDR_HLG)

DISPLAY_MATCH = "display-match"
TEXTURE = "texture"
SDR_MODES = (DISPLAY_MATCH, TEXTURE)
PASSTHROUGH = "passthrough"
CONVERT = "convert"

_DISPLAYS = {
    SDR_REC709: ("Rec.1886 Rec.709 - Display",),
    SDR_SRGB: ("sRGB - Display",),
    HDR_PQ: ("Rec.2100-PQ - Display",),
    HDR_HLG: ("Rec.2100-HLG - Display",),
}
# Texture: the display *encoding* as a colour space. The display colour spaces come last: they
# reach scene-linear through the config's default view transform, which must be un-tone-mapped.
# BT.1886 is built (the 2.4 power, mirrored) in front of the config's linear Rec.709 space.
BT1886_GAMMA = 2.4
LINEAR_REC709 = ("Linear Rec.709 (sRGB)", "lin_rec709_scene", "lin_rec709", "lin_srgb",
                  "Utility - Linear - sRGB")
_TEXTURE_SPACES = {
    SDR_REC709: ("Gamma 2.4 Encoded Rec.709", "g24_rec709", "Rec.1886 Rec.709 - Display",
                 "rec1886_rec709_display"),
    SDR_SRGB: ("sRGB Encoded Rec.709 (sRGB)", "srgb_tx", "sRGB - Texture", "sRGB - Display",
               "srgb_display"),
    HDR_PQ: ("Rec.2100-PQ - Display", "pq_rec2020_display", "rec2100_pq_display"),
    HDR_HLG: ("Rec.2100-HLG - Display", "hlg_rec2020_display", "rec2100_hlg_display"),
}
SDR_KINDS = (SDR_REC709, SDR_SRGB)
HDR_KINDS = (HDR_PQ, HDR_HLG)

# What display-match does with SDR codes outside the view's range (R'G'B' below 0 or above 1,
# e.g. Y' outside 16-235): ``extend`` continues beyond it (ocio/extend.py), ``clip`` keeps the
# view's range only, as the inverse view itself does.
SDR_EXTEND = "extend"
SDR_CLIP = "clip"
SDR_RANGES = (SDR_EXTEND, SDR_CLIP)

_HLG_ROUTE = ("HLG as the same light on the PQ display (the config's Rec.2100-HLG and "
              "Rec.2100-PQ display spaces, a 1000-nit HLG system), then the inverse of the "
              "Rec.2020-limited PQ view: the config's HLG view is P3-D65 limited, and Rec.2020 "
              "colours outside P3 would not come back through it")
_HLG_OWN_VIEW = ("the inverse of the HLG display's own view: this config has no Rec.2020-limited "
                 "PQ view to go through; colours outside the view's gamut do not round-trip")


def _sdr_views(_nits: int) -> tuple[tuple[str, ...], tuple[tuple[str, ...], ...]]:
    return (("ACES 2.0 - SDR 100 nits (Rec.709)", "ACES 1.0 - SDR Video"),
            (("SDR", "Rec.709"), ("SDR", "Video")))


def _hdr_views(nits: int) -> tuple[tuple[str, ...], tuple[tuple[str, ...], ...]]:
    # The Rec.2020-limited view inverts the widest set of colours (color.md §1.4); P3 D65 is what
    # the HLG display offers in the ACES 2 configs.
    return ((f"ACES 2.0 - HDR {nits} nits (Rec.2020)",
             f"ACES 1.1 - HDR Video ({nits} nits & Rec.2020 lim)",
             f"ACES 2.0 - HDR {nits} nits (P3 D65)",
             f"ACES 1.1 - HDR Video ({nits} nits & P3 lim)"),
            ((f"{nits} nits", "Rec.2020"), (f"{nits} nits",)))


_VIEWS = {SDR_REC709: _sdr_views, SDR_SRGB: _sdr_views, HDR_PQ: _hdr_views, HDR_HLG: _hdr_views}


@dataclass(frozen=True)
class InputTransform:
    """What takes one source kind to the working space in one config, and how to say it."""

    source_kind: str
    mode: str  # display-match | texture | passthrough | convert
    dst_space: str
    src_space: Optional[str] = None  # texture and EXR
    display: Optional[str] = None  # display-match
    view: Optional[str] = None
    via: Optional[tuple[str, str]] = None  # display-match: (source display, view's display)
    gamma: Optional[float] = None  # texture: a mirrored power in front of src_space (BT.1886)
    sdr_range: Optional[str] = None  # SDR display-match: extend | clip
    route: Optional[str] = None  # why this path, when there was a choice

    def transform(self) -> ocio.Transform:
        if self.mode == DISPLAY_MATCH:
            inverse = ocio.DisplayViewTransform(src=self.dst_space, display=self.display,
                                                view=self.view,
                                                direction=ocio.TRANSFORM_DIR_INVERSE)
            if self.via is None:
                return inverse
            group = ocio.GroupTransform()
            group.appendTransform(ocio.ColorSpaceTransform(src=self.via[0], dst=self.via[1]))
            group.appendTransform(inverse)
            return group
        space = ocio.ColorSpaceTransform(src=self.src_space, dst=self.dst_space)
        if self.gamma is None:
            return space
        power = ocio.ExponentTransform([self.gamma, self.gamma, self.gamma, 1.0])
        power.setNegativeStyle(ocio.NEGATIVE_MIRROR)
        group = ocio.GroupTransform()
        group.appendTransform(power)
        group.appendTransform(space)
        return group

    def describe(self) -> str:
        """One line for EXR headers and take.json."""
        if self.mode == DISPLAY_MATCH:
            via = f"{self.via[0]} as {self.via[1]}, " if self.via else ""
            return (f"display-match: {via}inverse {self.display} / {self.view} -> "
                    f"{self.dst_space}")
        if self.mode == PASSTHROUGH:
            return f"passthrough: {self.src_space}"
        if self.gamma is not None:
            return (f"{self.mode}: BT.1886 ({self.gamma:g} power, mirrored below black) in "
                    f"{self.src_space} -> {self.dst_space}")
        return f"{self.mode}: {self.src_space} -> {self.dst_space}"

    def key(self) -> tuple:
        return (self.source_kind, self.mode, self.src_space, self.display, self.view,
                self.dst_space, self.via, self.gamma, self.sdr_range)

    def record(self) -> dict:
        return {"mode": self.mode, "source_space": self.src_space, "display": self.display,
                "view": self.view, "description": self.describe(), "route": self.route}


def input_transform(config: ocio.Config, source_kind: str, mode: str, dst_space: str, *,
                    src_space: Optional[str] = None, peak_nits: int = 1000,
                    sdr_range: str = SDR_EXTEND) -> InputTransform:
    """The transform for a source kind under a mode (``display-match`` or ``texture``).

    EXR sources need ``src_space`` (the scene-linear space of the file) and ignore the mode.
    ``sdr_range`` says what SDR display-match does beyond the view's range (SDR_RANGES).
    """
    if config.getColorSpace(dst_space) is None:
        raise ConfigError(f"working space {dst_space!r} is not in the OCIO config")
    if source_kind == EXR:
        if not src_space or config.getColorSpace(src_space) is None:
            raise ConfigError(f"EXR source space {src_space!r} is not in the OCIO config")
        src = find_space(config, src_space)
        return InputTransform(EXR, PASSTHROUGH if src == dst_space else CONVERT, dst_space,
                              src_space=src)
    if source_kind not in VIDEO_KINDS:
        raise ColourError(f"unknown source kind {source_kind!r}: one of {', '.join(SOURCE_KINDS)}")
    if mode == DISPLAY_MATCH:
        if source_kind == HDR_HLG:
            via_pq = _hlg_through_pq(config, dst_space, peak_nits)
            if via_pq is not None:
                return via_pq
        display = find_display(config, _DISPLAYS[source_kind])
        if display is None:
            raise ConfigError(
                f"display-match for {source_kind} needs the display {_DISPLAYS[source_kind][0]!r}, "
                f"which this OCIO config lacks (it has: {', '.join(config.getDisplays())}); use "
                f"the texture mode or another config")
        preferred, words = _VIEWS[source_kind](peak_nits)
        view = find_view(config, display, preferred, words)
        if view is None:
            raise ConfigError(
                f"display {display!r} has no view for {source_kind} ({preferred[0]!r} or alike; "
                f"it has: {', '.join(config.getViews(display))}); use the texture mode")
        if source_kind in SDR_KINDS:
            if sdr_range not in SDR_RANGES:
                raise ColourError(f"unknown SDR range {sdr_range!r}: use "
                                  f"{' or '.join(SDR_RANGES)}")
            return InputTransform(source_kind, DISPLAY_MATCH, dst_space, display=display,
                                  view=view, sdr_range=sdr_range)
        return InputTransform(source_kind, DISPLAY_MATCH, dst_space, display=display, view=view,
                              route=_HLG_OWN_VIEW if source_kind == HDR_HLG else None)
    if mode == TEXTURE:
        if source_kind == SDR_REC709:
            linear = find_space(config, *LINEAR_REC709)
            if linear is not None:
                return InputTransform(source_kind, TEXTURE, dst_space, src_space=linear,
                                      gamma=BT1886_GAMMA)
        space = find_space(config, *_TEXTURE_SPACES[source_kind])
        if space is None:
            raise ConfigError(f"texture mode for {source_kind} needs a colour space like "
                              f"{_TEXTURE_SPACES[source_kind][0]!r}, which this OCIO config lacks")
        cs = config.getColorSpace(space)
        if cs.getReferenceSpaceType() == ocio.REFERENCE_SPACE_DISPLAY:
            vt = config.getDefaultViewTransformName() or ""
            if "un-tone-mapped" not in vt.lower():
                raise ConfigError(
                    f"texture mode reads {space!r} through the config's default view transform "
                    f"{vt!r}, which tone-maps: use display-match or a config whose default view "
                    f"transform is un-tone-mapped")
        return InputTransform(source_kind, TEXTURE, dst_space, src_space=space)
    raise ColourError(f"unknown mode {mode!r}: use {' or '.join(SDR_MODES)}")


def _hlg_through_pq(config: ocio.Config, dst_space: str,
                    peak_nits: int) -> Optional[InputTransform]:
    """HLG display-match through the PQ display's Rec.2020-limited view, when the config has the
    HLG and PQ display spaces (display-referred both) and that view; None otherwise."""
    hlg = find_space(config, *_TEXTURE_SPACES[HDR_HLG])
    pq = find_space(config, *_TEXTURE_SPACES[HDR_PQ])
    display = find_display(config, _DISPLAYS[HDR_PQ])
    if hlg is None or pq is None or display is None:
        return None
    spaces = (config.getColorSpace(hlg), config.getColorSpace(pq))
    if any(cs.getReferenceSpaceType() != ocio.REFERENCE_SPACE_DISPLAY for cs in spaces):
        return None  # between scene-referred spaces the conversion would pass a view transform
    preferred, _ = _hdr_views(peak_nits)
    view = find_view(config, display, [v for v in preferred if "2020" in v],
                     [(f"{peak_nits} nits", "Rec.2020")])
    if view is None:
        return None
    return InputTransform(HDR_HLG, DISPLAY_MATCH, dst_space, display=display, view=view,
                          via=(hlg, pq), route=_HLG_ROUTE)
