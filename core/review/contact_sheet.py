"""Pictures of judged takes: the draft batch's contact sheet and each take's judge plot.

Both are small 8-bit PNGs drawn with numpy and written with OpenImageIO (no plotting library).
Frames are seen the way an artist sees them: through the OCIO config's display and view, never
as raw scene-linear values clamped to 8 bits.

Text uses OpenImageIO's ``render_text`` with the fonts its wheel ships; where no font can be
found (a build without FreeType) a tiny built-in 5x7 bitmap font draws it instead, so a sheet
always says which draft is which.
"""
from __future__ import annotations

import os
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from ..takes.take import frame_paths

Colour = tuple[float, float, float]

BACKGROUND: Colour = (0.09, 0.09, 0.10)
TEXT: Colour = (0.92, 0.92, 0.92)
DIM: Colour = (0.62, 0.62, 0.64)
GOOD: Colour = (0.35, 0.78, 0.42)
BAD: Colour = (0.90, 0.30, 0.25)
BEST: Colour = (0.98, 0.78, 0.25)
FONT = "DroidSansMono"


# -- frames through the view -----------------------------------------------------------------

def config_of(colour: dict) -> Optional[str]:
    """The OCIO config a take was published with, from take.json's "colour" record."""
    return colour.get("config_uri") or config_uri(colour.get("config"))


def config_uri(config) -> Optional[str]:
    """A config given as a path/URI string or as the colour module's record (a dict)."""
    if isinstance(config, dict):
        return config.get("uri") or config.get("path") or config.get("name")
    return config or None


def display_processor(working_space: Optional[str], config=None):
    """An OCIO CPU processor from the working space through the config's default view.

    The colour module (genplate.ocio) is used when present, so its config resolution ($OCIO,
    the pinned built-in config) and processor cache apply; otherwise PyOpenColorIO directly.
    """
    uri = config_uri(config)
    try:
        from genplate.ocio.config import resolve_config, working_space as role_working_space
        from genplate.ocio.processors import display_processor as ocio_display
    except ImportError:
        pass
    else:
        try:
            info = resolve_config(uri)
        except Exception:
            if uri is None:
                raise
            # The take's config is gone (moved, another machine): view it in the one in force.
            info = resolve_config(None)
        space = working_space or role_working_space(info.config)
        return ocio_display(info, space)
    import PyOpenColorIO as ocio

    from genplate.ocio.builtin import BUILTIN_CONFIG

    cfg = ocio.Config.CreateFromFile(uri or os.environ.get("OCIO") or BUILTIN_CONFIG)
    space = working_space or cfg.getRoleColorSpace("scene_linear") or "ACEScg"
    display = cfg.getDefaultDisplay()
    transform = ocio.DisplayViewTransform(src=space, display=display,
                                          view=cfg.getDefaultView(display))
    return cfg.getProcessor(transform).getDefaultCPUProcessor()


def read_rgb(path: Path) -> np.ndarray:
    """An image's first three channels as float32 HxWx3."""
    import OpenImageIO as oiio

    buf = oiio.ImageBuf(str(path))
    pixels = buf.get_pixels(oiio.FLOAT)
    if buf.has_error or pixels is None:
        raise OSError(f"cannot read {path}: {buf.geterror()}")
    pixels = np.asarray(pixels, dtype=np.float32)
    if pixels.ndim == 2:
        pixels = pixels[..., None]
    if pixels.shape[2] == 1:
        pixels = np.repeat(pixels, 3, axis=2)
    return np.ascontiguousarray(pixels[..., :3])


def to_display(linear: np.ndarray, working_space: Optional[str], config=None) -> np.ndarray:
    """Scene-linear pixels in the working space -> display-referred uint8 through the view."""
    rgb = np.ascontiguousarray(np.nan_to_num(linear[..., :3], nan=0.0, posinf=0.0, neginf=0.0),
                               dtype=np.float32).copy()
    display_processor(working_space, config).applyRGB(rgb)
    return (np.clip(rgb, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def exr_to_png(exr: Path, png: Path, working_space: Optional[str], config=None) -> Path:
    """One EXR frame as an 8-bit PNG through the view (what the model is given as an image)."""
    write_png(png, to_display(read_rgb(exr), working_space, config))
    return png


def resize(image: np.ndarray, width: int) -> np.ndarray:
    """Resize (keeping the aspect) with OpenImageIO's filtered resize."""
    import OpenImageIO as oiio

    h, w = image.shape[:2]
    if w == width:
        return image
    height = max(1, round(h * width / w))
    src = oiio.ImageBuf(np.ascontiguousarray(image.astype(np.float32) / 255.0))
    out = oiio.ImageBufAlgo.resize(src, roi=oiio.ROI(0, width, 0, height, 0, 1, 0, 3))
    return (np.clip(out.get_pixels(oiio.FLOAT), 0, 1) * 255 + 0.5).astype(np.uint8)


def write_png(path: Path, image: np.ndarray) -> Path:
    """Write an 8-bit RGB PNG atomically (a reader never sees half a file)."""
    import OpenImageIO as oiio

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if image.dtype != np.uint8:
        image = (np.clip(image, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    # Not mkstemp (0600): sheets and plots live in shared folders, so the user's umask applies.
    tmp = str(path.with_name(f".{path.stem}.{os.getpid()}.{uuid.uuid4().hex[:8]}.png"))
    try:
        out = oiio.ImageOutput.create(tmp)
        h, w = image.shape[:2]
        channels = image.shape[2] if image.ndim == 3 else 1
        if out is None or not out.open(tmp, oiio.ImageSpec(w, h, channels, oiio.UINT8)):
            raise OSError(f"cannot write {path}: {oiio.geterror()}")
        ok = out.write_image(np.ascontiguousarray(image))
        out.close()
        if not ok:
            raise OSError(f"cannot write {path}: {oiio.geterror()}")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


# -- text ------------------------------------------------------------------------------------

@dataclass
class Label:
    x: int
    y: int  # the text's baseline
    text: str
    size: int = 13
    colour: Colour = TEXT
    max_width: Optional[int] = None  # pixels; longer text is cut, ending ".."

    def fitted(self, char_width: float) -> str:
        if self.max_width is None:
            return self.text
        fits = max(1, int(self.max_width // char_width))
        return self.text if len(self.text) <= fits else self.text[:max(0, fits - 2)] + ".."


def draw_labels(canvas: np.ndarray, labels: Sequence[Label], *, builtin_font: bool = False) -> np.ndarray:
    """Draw text onto a float RGB canvas (HxWx3, 0..1); returns the canvas."""
    if not labels:
        return canvas
    if not builtin_font:
        import OpenImageIO as oiio

        buf = oiio.ImageBuf(np.ascontiguousarray(canvas, dtype=np.float32))
        # A monospaced font's advance is about 0.6 of its size.
        if all(oiio.ImageBufAlgo.render_text(buf, l.x, l.y, l.fitted(0.62 * l.size), l.size,
                                             FONT, list(l.colour))
               for l in labels):
            return np.asarray(buf.get_pixels(oiio.FLOAT), dtype=np.float32).reshape(canvas.shape)
    for label in labels:
        _bitmap_text(canvas, label)
    return canvas


# A classic 5x7 font, one byte per column (bit 0 at the top), for ' ' .. '_'; lower case is
# drawn as upper case. Only used where OpenImageIO finds no font.
_GLYPHS = bytes.fromhex(
    "0000000000" "00005f0000" "0007000700" "147f147f14" "242a7f2a12" "2313086462" "3649552250"
    "0005030000" "001c224100" "0041221c00" "082a1c2a08" "08083e0808" "0050300000" "0808080808"
    "0060600000" "2010080402" "3e5149453e" "00427f4000" "4261514946" "2141454b31" "1814127f10"
    "2745454539" "3c4a494930" "0171090503" "3649494936" "064949291e" "0036360000" "0056360000"
    "0008142241" "1414141414" "4122140800" "0201510906" "324979413e" "7e1111117e" "7f49494936"
    "3e41414122" "7f4141221c" "7f49494941" "7f09090101" "3e41415132" "7f0808087f" "00417f4100"
    "2040413f01" "7f08142241" "7f40404040" "7f0204027f" "7f0408107f" "3e4141413e" "7f09090906"
    "3e4151215e" "7f09192946" "4649494931" "01017f0101" "3f4040403f" "1f2040201f" "7f2018207f"
    "6314081463" "0304780403" "6151494543" "00007f4141" "0204081020" "41417f0000" "0402010204"
    "4040404040")


def _bitmap_text(canvas: np.ndarray, label: Label) -> None:
    scale = max(1, round(label.size / 9))
    x = label.x
    top = label.y - 7 * scale
    h, w = canvas.shape[:2]
    for char in label.fitted(6 * scale).upper():
        code = ord(char) - 0x20
        if not 0 <= code < len(_GLYPHS) // 5:
            code = ord("?") - 0x20
        for col in range(5):
            bits = _GLYPHS[code * 5 + col]
            for row in range(7):
                if bits >> row & 1:
                    y0, x0 = top + row * scale, x + col * scale
                    if 0 <= y0 < h and 0 <= x0 < w:
                        canvas[y0:y0 + scale, x0:x0 + scale] = label.colour
        x += 6 * scale


# -- drawing primitives ----------------------------------------------------------------------

def _line(canvas: np.ndarray, x0: float, y0: float, x1: float, y1: float, colour: Colour,
          width: int = 1) -> None:
    steps = int(max(abs(x1 - x0), abs(y1 - y0))) + 1
    xs = np.linspace(x0, x1, steps).round().astype(int)
    ys = np.linspace(y0, y1, steps).round().astype(int)
    h, w = canvas.shape[:2]
    for dy in range(width):
        for dx in range(width):
            yy, xx = ys + dy - width // 2, xs + dx - width // 2
            ok = (yy >= 0) & (yy < h) & (xx >= 0) & (xx < w)
            canvas[yy[ok], xx[ok]] = colour


def _rect(canvas: np.ndarray, x0: int, y0: int, x1: int, y1: int, colour: Colour,
          width: int = 2) -> None:
    canvas[y0:y0 + width, x0:x1] = colour
    canvas[y1 - width:y1, x0:x1] = colour
    canvas[y0:y1, x0:x0 + width] = colour
    canvas[y0:y1, x1 - width:x1] = colour


# -- the judge plot --------------------------------------------------------------------------

def write_plot(path: Path, scores, config, *, title: str = "", width: int = 640,
               height: int = 260, builtin_font: bool = False, first_frame: int = 0) -> Path:
    """Luminance (stops) and flicker over the take's frames, with black/duplicate marks.

    The axis is in the take's frame numbers (``first_frame``, 1001 for a published take), the
    ones an artist finds in Nuke or Resolve.

    Top: mean luminance in stops (log2), scaled to its own range. Bottom: each frame's flicker
    in stops with the threshold as a dashed line; frames over it are red. Ticks under the axis
    mark black (grey) and duplicated (orange) frames.
    """
    series = scores.series
    luma = np.asarray(series.get("luminance", []), dtype=np.float64)
    flicker = np.asarray(series.get("flicker_stops", []), dtype=np.float64)
    black = np.asarray(series.get("black", []), dtype=bool)
    dup = np.asarray(series.get("duplicate", []), dtype=bool)
    counted = np.asarray(series.get("flicker_frame", flicker > config.flicker_stops), dtype=bool)
    n = len(luma)
    canvas = np.empty((height, width, 3), dtype=np.float32)
    canvas[:] = BACKGROUND
    left, right = 56, width - 10
    top_a, bottom_a = 40, 132          # luminance panel
    top_b, bottom_b = 160, 226         # flicker panel
    for y0, y1 in ((top_a, bottom_a), (top_b, bottom_b)):
        _rect(canvas, left - 1, y0 - 1, right + 1, y1 + 1, (0.25, 0.25, 0.27), width=1)

    def xpos(i: float) -> float:
        return left + (right - left) * (i / max(1, n - 1))

    labels = [Label(8, 16, (title + "  " if title else "") + scores.line(), 12,
                    BAD if scores.broken else GOOD, max_width=width - 16)]
    if n:
        stops = np.log2(np.maximum(luma, config.black_level))
        lo, hi = float(stops.min()), float(stops.max())
        if hi - lo < 0.5:
            mid = (hi + lo) / 2
            lo, hi = mid - 0.25, mid + 0.25
        ys = bottom_a - (stops - lo) / (hi - lo) * (bottom_a - top_a)
        for i in range(1, n):
            _line(canvas, xpos(i - 1), ys[i - 1], xpos(i), ys[i], (0.45, 0.70, 0.95), width=2)
        labels += [Label(4, top_a + 10, f"{hi:+.1f}", 10, DIM),
                   Label(4, bottom_a, f"{lo:+.1f}", 10, DIM),
                   Label(left, top_a - 5, "mean luminance (stops)", 11, DIM)]
        limit = float(config.flicker_stops)
        scale_max = max(limit * 3, float(flicker.max()) if flicker.size else 0.0)
        yl = bottom_b - limit / scale_max * (bottom_b - top_b)
        for x in range(left, right, 8):
            _line(canvas, x, yl, min(x + 4, right), yl, (0.6, 0.35, 0.3))
        for i in range(n):
            y = bottom_b - min(flicker[i], scale_max) / scale_max * (bottom_b - top_b)
            colour = BAD if i < len(counted) and counted[i] else (0.75, 0.75, 0.78)
            _line(canvas, xpos(i), bottom_b, xpos(i), y, colour, width=2)
        labels += [Label(left, top_b - 5, f"flicker (stops off the trend; limit {limit:g})", 11, DIM),
                   Label(4, top_b + 10, f"{scale_max:.2f}", 10, DIM)]
        for i in range(n):
            if i < len(black) and black[i]:
                _line(canvas, xpos(i), bottom_b + 4, xpos(i), bottom_b + 10, (0.5, 0.5, 0.5), 2)
            if i < len(dup) and dup[i]:
                _line(canvas, xpos(i), bottom_b + 11, xpos(i), bottom_b + 17, (0.95, 0.6, 0.2), 2)
        labels += [Label(left, height - 12, f"frame {first_frame}", 10, DIM),
                   Label(right - 66, height - 12, f"frame {first_frame + n - 1}", 10, DIM),
                   Label(left + 90, height - 12, "grey: black  orange: duplicate", 10, DIM)]
    canvas = draw_labels(canvas, labels, builtin_font=builtin_font)
    return write_png(path, canvas)


# -- the contact sheet -----------------------------------------------------------------------

@dataclass
class SheetEntry:
    """One cell: a thumbnail (uint8 HxWx3, or None when there is no take) and its captions."""

    name: str
    rank: Optional[int]
    image: Optional[np.ndarray]
    lines: list[str] = field(default_factory=list)
    state: str = "ok"  # ok | broken | failed


def write_contact_sheet(path: Path, entries: Sequence[SheetEntry], *, title: str = "",
                        thumb_width: int = 320, columns: Optional[int] = None,
                        builtin_font: bool = False) -> Path:
    """A grid of thumbnails, best first, each with its name, rank and scores underneath."""
    if not entries:
        raise ValueError("a contact sheet needs at least one entry")
    columns = columns or min(4, len(entries))
    rows = -(-len(entries) // columns)
    thumbs = [resize(e.image, thumb_width) if e.image is not None else None for e in entries]
    thumb_h = max((t.shape[0] for t in thumbs if t is not None), default=thumb_width * 9 // 16)
    caption_h = 18 + 15 * max(1, max(len(e.lines) for e in entries))
    pad, header = 10, 34 if title else 8
    cell_w, cell_h = thumb_width + 2 * pad, thumb_h + caption_h + 2 * pad
    canvas = np.empty((header + rows * cell_h, columns * cell_w, 3), dtype=np.float32)
    canvas[:] = BACKGROUND
    labels: list[Label] = []
    if title:
        labels.append(Label(pad, 22, title, 15, TEXT, max_width=canvas.shape[1] - 2 * pad))
    for i, (entry, thumb) in enumerate(zip(entries, thumbs)):
        x0 = (i % columns) * cell_w + pad
        y0 = header + (i // columns) * cell_h + pad
        if thumb is not None:
            h = thumb.shape[0]
            canvas[y0:y0 + h, x0:x0 + thumb_width] = thumb.astype(np.float32) / 255.0
        else:
            canvas[y0:y0 + thumb_h, x0:x0 + thumb_width] = (0.16, 0.16, 0.17)
            labels.append(Label(x0 + 10, y0 + thumb_h // 2, "no take", 14, DIM))
        border = BEST if entry.rank == 1 and entry.state == "ok" else (
            GOOD if entry.state == "ok" else BAD)
        _rect(canvas, x0 - 3, y0 - 3, x0 + thumb_width + 3, y0 + thumb_h + 3, border, width=2)
        rank = f"#{entry.rank} " if entry.rank is not None else ""
        labels.append(Label(x0, y0 + thumb_h + 20, f"{rank}{entry.name}", 14,
                            border if entry.state != "ok" or entry.rank == 1 else TEXT,
                            max_width=thumb_width))
        for j, line in enumerate(entry.lines):
            labels.append(Label(x0, y0 + thumb_h + 36 + 15 * j, line, 11,
                                BAD if entry.state != "ok" and j == 0 else DIM,
                                max_width=thumb_width))
    canvas = draw_labels(canvas, labels, builtin_font=builtin_font)
    return write_png(path, canvas)


def take_thumbnail(take_dir: Path, record: dict) -> Optional[np.ndarray]:
    """The take's middle frame as the artist sees it: ingest's thumbnail.png, else the EXR
    through the view. None when neither can be read."""
    thumb = take_dir / (record.get("thumbnail") or "thumbnail.png")
    try:
        if thumb.is_file():
            return (np.clip(read_rgb(thumb), 0, 1) * 255 + 0.5).astype(np.uint8)
    except OSError:
        pass
    frames = frame_paths(take_dir, record)
    if not frames:
        return None
    colour = record.get("colour") or {}
    try:
        return to_display(read_rgb(frames[len(frames) // 2]), colour.get("working_space"),
                          config_of(colour))
    except Exception:
        return None


__all__ = ["SheetEntry", "Label", "write_contact_sheet", "write_plot", "write_png", "draw_labels",
           "exr_to_png", "to_display", "read_rgb", "resize", "take_thumbnail", "display_processor"]
