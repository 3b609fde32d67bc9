"""Source kinds and the transform that takes each to the working space (color.md §1.5).

| source kind | display-match (plates, the default)            | texture                         |
|-------------|-------------------------------------------------|---------------------------------|
| sdr-rec709  | inverse Rec.1886 Rec.709 display + SDR view      | Gamma 2.4 Encoded Rec.709 -> dst|
| sdr-srgb    | inverse sRGB display + SDR view                  | sRGB Encoded Rec.709 -> dst     |
| hdr-pq      | inverse Rec.2100-PQ display + HDR 1000 nits view | Rec.2100-PQ display -> dst      |
| hdr-hlg     | inverse Rec.2100-HLG display + HDR 1000 nits view| Rec.2100-HLG display -> dst     |
| exr         | the file's scene-linear space -> dst (no-op when they are the same)               |

Display-match inverts the config's display *and* view: seen through that view in Nuke or
Resolve, the plate looks as the MP4 did on its monitor (values up to ~128 for SDR white under
ACES 2.0). Texture inverts only the display encoding, values stay 0-1 (what the studio config's
file rules do for .mp4); for HDR it is the absolute reading, 100 nits = 1.0. The names are found
in the config, ACES 2.x spelling first, then ACES 1.3's, then by the words they contain.
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
_TEXTURE_SPACES = {
    SDR_REC709: ("Gamma 2.4 Encoded Rec.709", "g24_rec709", "Rec.1886 Rec.709 - Display",
                 "rec1886_rec709_display"),
    SDR_SRGB: ("sRGB Encoded Rec.709 (sRGB)", "srgb_tx", "sRGB - Texture", "sRGB - Display",
               "srgb_display"),
    HDR_PQ: ("Rec.2100-PQ - Display", "pq_rec2020_display", "rec2100_pq_display"),
    HDR_HLG: ("Rec.2100-HLG - Display", "hlg_rec2020_display", "rec2100_hlg_display"),
}


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

    def transform(self) -> ocio.Transform:
        if self.mode == DISPLAY_MATCH:
            return ocio.DisplayViewTransform(src=self.dst_space, display=self.display,
                                             view=self.view,
                                             direction=ocio.TRANSFORM_DIR_INVERSE)
        return ocio.ColorSpaceTransform(src=self.src_space, dst=self.dst_space)

    def describe(self) -> str:
        """One line for EXR headers and take.json."""
        if self.mode == DISPLAY_MATCH:
            return f"display-match: inverse {self.display} / {self.view} -> {self.dst_space}"
        if self.mode == PASSTHROUGH:
            return f"passthrough: {self.src_space}"
        return f"{self.mode}: {self.src_space} -> {self.dst_space}"

    def key(self) -> tuple:
        return (self.source_kind, self.mode, self.src_space, self.display, self.view,
                self.dst_space)

    def record(self) -> dict:
        return {"mode": self.mode, "source_space": self.src_space, "display": self.display,
                "view": self.view, "description": self.describe()}


def input_transform(config: ocio.Config, source_kind: str, mode: str, dst_space: str, *,
                    src_space: Optional[str] = None, peak_nits: int = 1000) -> InputTransform:
    """The transform for a source kind under a mode (``display-match`` or ``texture``).

    EXR sources need ``src_space`` (the scene-linear space of the file) and ignore the mode.
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
        return InputTransform(source_kind, DISPLAY_MATCH, dst_space, display=display, view=view)
    if mode == TEXTURE:
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
