"""Test media the colour and ingest tests synthesise: known patches, encoded with PyAV.

Y'CbCr codes are computed with the colour-science package (an independent implementation of
the BT.709 / BT.2020 matrices and ranges), written straight into the encoder's planes and
encoded losslessly (libx264 qp 0, libx265 lossless), so a decoded patch must come back at
exactly the code it was given. This module holds helpers only; the bench imports them too.
"""
from __future__ import annotations

import warnings
import zipfile
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from genplate.core.ingest.video import ycbcr_frame

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    import colour  # noqa: E402

WEIGHTS = {"bt709": colour.WEIGHTS_YCBCR["ITU-R BT.709"],
           "bt2020nc": colour.WEIGHTS_YCBCR["ITU-R BT.2020"],
           "bt601": colour.WEIGHTS_YCBCR["ITU-R BT.601"]}

# AVCOL tags per clip kind: (colorspace, primaries, trc, range)
TAGS = {
    "sdr": dict(colorspace=1, color_primaries=1, color_trc=1, color_range=1),
    "sdr-full": dict(colorspace=1, color_primaries=1, color_trc=1, color_range=2),
    "untagged": {},
    "pq": dict(colorspace=9, color_primaries=9, color_trc=16, color_range=1),
    "hlg": dict(colorspace=9, color_primaries=9, color_trc=18, color_range=1),
}

PATCH = 32  # patch size in pixels: chroma is flat inside a patch at 4:2:0


@dataclass
class Clip:
    path: Path
    rgb: np.ndarray  # (rows, cols, 3) R'G'B' patch values the codes were made from
    codes: np.ndarray  # (rows, cols, 3) integer Y, Cb, Cr codes of each patch
    bits: int
    matrix: str
    full: bool
    frames: int
    width: int
    height: int


def patch_rgb(rows: int = 4, cols: int = 6, seed: int = 7, top: float = 1.0) -> np.ndarray:
    """R'G'B' patch values: a grey ladder, primaries, and random colours (rows x cols x 3)."""
    rng = np.random.default_rng(seed)
    values = rng.uniform(0.02, top, size=(rows, cols, 3))
    ladder = np.linspace(0.0, 1.0, cols)
    values[0] = ladder[:, None]
    values[1, :3] = np.eye(3)
    return values


def codes_for(rgb: np.ndarray, matrix: str, full: bool, bits: int) -> np.ndarray:
    """Integer Y'CbCr codes for R'G'B' values (colour-science, rounded)."""
    ycc = colour.RGB_to_YCbCr(rgb, K=WEIGHTS[matrix], in_bits=bits, in_legal=False,
                              in_int=False, out_bits=bits, out_legal=not full, out_int=True)
    return np.asarray(ycc, dtype=np.int64)


def rgb_for(codes: np.ndarray, matrix: str, full: bool, bits: int) -> np.ndarray:
    """R'G'B' that the integer codes stand for (colour-science, unclipped)."""
    # Float output is never clamped by colour-science (clamp_int only applies to integers).
    return np.asarray(colour.YCbCr_to_RGB(codes, K=WEIGHTS[matrix], in_bits=bits,
                                          in_legal=not full, in_int=True, out_bits=bits,
                                          out_legal=False, out_int=False), dtype=np.float64)


def planes_for(codes: np.ndarray, patch: int = PATCH) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Full-size Y and half-size (4:2:0) Cb, Cr planes for a patch grid of codes."""
    y = np.kron(codes[..., 0], np.ones((patch, patch), np.int64))
    cb = np.kron(codes[..., 1], np.ones((patch // 2, patch // 2), np.int64))
    cr = np.kron(codes[..., 2], np.ones((patch // 2, patch // 2), np.int64))
    return y, cb, cr


def encode(path: Path, planes: Sequence[np.ndarray], *, frames: int, pix_fmt: str, codec: str,
           options: dict, tags: dict, fps: int = 24, roll: bool = False) -> Path:
    """Encode the same Y, Cb, Cr planes (optionally rolled a little each frame) into an MP4."""
    import av

    bits16 = "10" in pix_fmt or "12" in pix_fmt or "16" in pix_fmt
    dtype = np.uint16 if bits16 else np.uint8
    h, w = planes[0].shape
    with av.open(str(path), "w", format="mp4") as container:
        stream = container.add_stream(codec, rate=fps)
        stream.width, stream.height, stream.pix_fmt = w, h, pix_fmt
        stream.options = dict(options)
        for key, value in tags.items():
            setattr(stream.codec_context, key, value)
        for i in range(frames):
            shifted = [(np.roll(v, 2 * i, axis=1) if roll else v).astype(dtype) for v in planes]
            frame = ycbcr_frame(shifted, pix_fmt, tags=tags, pts=i)
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def make_clip(path: Path, kind: str = "sdr", *, frames: int = 3, rgb: Optional[np.ndarray] = None,
              super_white: bool = True) -> Clip:
    """A lossless patch clip of one kind: sdr, sdr-full, untagged (8-bit H.264), pq, hlg (10-bit
    HEVC). SDR limited clips get a super-white patch (Y 254) and a sub-black one (Y 4)."""
    hdr = kind in ("pq", "hlg")
    bits = 10 if hdr else 8
    matrix = "bt2020nc" if hdr else "bt709"
    full = kind == "sdr-full"
    rgb = patch_rgb() if rgb is None else rgb
    codes = codes_for(rgb, matrix, full, bits)
    if super_white and not full:
        scale = 2 ** (bits - 8)
        codes[2, 0] = (254 * scale, 128 * scale, 128 * scale)
        codes[2, 1] = (4 * scale, 128 * scale, 128 * scale)
    planes = planes_for(codes)
    if hdr:
        enc = dict(pix_fmt="yuv420p10le", codec="libx265",
                   options={"x265-params": "lossless=1:log-level=none"})
    else:
        enc = dict(pix_fmt="yuvj420p" if full else "yuv420p", codec="libx264",
                   options={"qp": "0"})
    encode(path, planes, frames=frames, tags=TAGS[kind], **enc)
    h, w = planes[0].shape
    return Clip(path, rgb_for(codes, matrix, full, bits), codes, bits, matrix, full, frames, w, h)


def patch_means(image: np.ndarray, rows: int, cols: int, patch: int = PATCH,
                margin: int = 6) -> np.ndarray:
    """Mean of each patch's centre (away from chroma edges)."""
    out = np.zeros((rows, cols, image.shape[2]), np.float64)
    for r in range(rows):
        for c in range(cols):
            block = image[r * patch + margin:(r + 1) * patch - margin,
                          c * patch + margin:(c + 1) * patch - margin]
            out[r, c] = block.reshape(-1, image.shape[2]).astype(np.float64).mean(axis=0)
    return out


# -- EXR deliveries ------------------------------------------------------------------------------

AP0 = (0.7347, 0.2653, 0.0, 1.0, 0.0001, -0.077, 0.32168, 0.33767)


def aces_frames(width: int = 96, height: int = 64, frames: int = 4, seed: int = 3) -> list[np.ndarray]:
    """Scene-linear AP0 frames with highlights far above 1.0 (up to ~60)."""
    rng = np.random.default_rng(seed)
    base = rng.lognormal(mean=-1.5, sigma=1.3, size=(height, width, 3)).astype(np.float32)
    base[:8, :8] = 60.0
    base[8:16, :8] = 1.5
    out = []
    for i in range(frames):
        out.append(np.roll(base, i, axis=1).astype(np.float16))
    return out


def write_exr_sequence(folder: Path, frames: Sequence[np.ndarray], *, name: str = "gen",
                       start: int = 0, compression: str = "dwab:45",
                       chromaticities: Optional[tuple] = AP0, fps: Optional[Fraction] = Fraction(24),
                       channels: Sequence[str] = ("R", "G", "B")) -> list[Path]:
    import OpenImageIO as oiio

    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, pixels in enumerate(frames):
        h, w = pixels.shape[:2]
        data = pixels
        if len(channels) == 4:
            data = np.concatenate([pixels, np.ones((h, w, 1), pixels.dtype)], axis=2)
        spec = oiio.ImageSpec(w, h, len(channels), "half")
        spec.channelnames = tuple(channels)
        spec.attribute("compression", compression)
        if chromaticities is not None:
            spec.attribute("chromaticities", oiio.TypeDesc("float[8]"), tuple(chromaticities))
        if fps is not None:
            spec.attribute("FramesPerSecond", oiio.TypeRational, (fps.numerator, fps.denominator))
        path = folder / f"{name}.{start + i:04d}.exr"
        out = oiio.ImageOutput.create(str(path))
        assert out.open(str(path), spec), out.geterror()
        assert out.write_image(np.ascontiguousarray(data))
        out.close()
        paths.append(path)
    return paths


def zip_files(zip_path: Path, files: Sequence[Path], folder: str = "exr") -> Path:
    with zipfile.ZipFile(zip_path, "w", compression=zipfile.ZIP_STORED) as archive:
        for f in files:
            archive.write(f, f"{folder}/{f.name}")
    return zip_path


def read_exr(path: Path) -> tuple[np.ndarray, dict]:
    """Pixels (float32, h x w x 3) and header attributes, read with OpenImageIO."""
    import OpenImageIO as oiio

    inp = oiio.ImageInput.open(str(path))
    assert inp is not None, oiio.geterror()
    spec = inp.spec()
    attrs = {a.name: a.value for a in spec.extra_attribs}
    attrs["_format"] = str(spec.format)
    attrs["_channels"] = tuple(spec.channelnames)
    attrs["_tiled"] = spec.tile_width > 0
    pixels = inp.read_image(0, 0, 0, 3, "float")
    inp.close()
    return pixels, attrs


class FakeStaging:
    """What ingest needs of takes.Staging: a folder, frame paths and the thumbnail path."""

    def __init__(self, folder: Path, name: str = "shot_v001") -> None:
        self.dir = Path(folder)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.basename = name

    def frame_path(self, frame: int, ext: str = "exr") -> Path:
        return self.dir / f"{self.basename}.{frame:04d}.{ext}"

    @property
    def thumbnail_path(self) -> Path:
        return self.dir / "thumbnail.png"
