"""Files in and out of the offline renderer: input images and videos, the MP4, the EXR zip.

Inputs become scene-linear ACEScg at the frame's size. 8-bit (or 16-bit integer) images are
display-referred sRGB/Rec.709 pictures, taken back through the inverse of the same SDR view
the MP4 goes out through, so a keyframe comes out of the MP4 looking like it went in. Float
images (EXR) are scene-linear already: ACES2065-1 unless their chromaticities say AP1.

Outputs are what Ray3 delivers: an MP4 (SDR H.264 BT.709 limited 8-bit, or HDR HEVC Main10
BT.2020/PQ) and, with exr_export, ACES2065-1 half DWAB EXR frames packed in one ZIP.
"""
from __future__ import annotations

import os
import zipfile
from fractions import Fraction
from pathlib import Path
from typing import Iterator, Optional

import av
import numpy as np
import OpenImageIO as oiio

from . import colour

FPS = 24
AP0 = (0.7347, 0.2653, 0.0, 1.0, 0.0001, -0.077, 0.32168, 0.33767)
AP1 = (0.713, 0.293, 0.165, 0.830, 0.128, 0.044, 0.32168, 0.33767)
EXR_COMPRESSION = "dwab:45"  # what Luma documents for its EXR export


class MediaError(RuntimeError):
    """An input the renderer cannot read; the message names the file."""


# -- reading -------------------------------------------------------------------------------

def _cover_roi(src_w: int, src_h: int, w: int, h: int) -> oiio.ROI:
    """The centred crop of the source that has the frame's aspect (scale to cover, not stretch)."""
    if src_w * h > w * src_h:  # source wider: crop its sides
        cw = max(1, round(src_h * w / h))
        x0 = (src_w - cw) // 2
        return oiio.ROI(x0, x0 + cw, 0, src_h)
    ch = max(1, round(src_w * h / w))
    y0 = (src_h - ch) // 2
    return oiio.ROI(0, src_w, y0, y0 + ch)


def read_image(path: str | Path, width: int, height: int) -> np.ndarray:
    """An image file as ACEScg float32 (height, width, 3)."""
    buf = oiio.ImageBuf(str(path))
    if buf.has_error or buf.spec().width == 0:
        raise MediaError(f"cannot read image {path}: {buf.geterror() or 'unknown format'}")
    spec = buf.spec()
    is_float = spec.format.basetype in (oiio.HALF, oiio.FLOAT, oiio.DOUBLE)
    chroma = spec.getattribute("chromaticities")
    roi = _cover_roi(spec.width, spec.height, width, height)
    roi.chbegin, roi.chend = 0, min(spec.nchannels, 3)
    cropped = oiio.ImageBufAlgo.cut(buf, roi)
    sized = oiio.ImageBufAlgo.resize(cropped, roi=oiio.ROI(0, width, 0, height, 0, 1, 0, cropped.nchannels))
    pixels = np.asarray(sized.get_pixels(oiio.FLOAT), dtype=np.float32)
    if pixels.ndim == 2:
        pixels = pixels[..., None]
    if pixels.shape[2] == 1:
        pixels = np.repeat(pixels, 3, axis=2)
    pixels = np.ascontiguousarray(pixels[:, :, :3])
    if is_float:
        if chroma is not None and np.allclose(tuple(chroma), AP1, atol=1e-3):
            return pixels
        return colour.aces2065_to_acescg(pixels)
    return colour.from_display(np.clip(pixels, 0.0, 1.0), "sdr")


def read_exr_frame(path: Path) -> np.ndarray:
    """One of our own stored frames (ACEScg half) as float32."""
    buf = oiio.ImageBuf(str(path))
    if buf.has_error:
        raise MediaError(f"cannot read {path}: {buf.geterror()}")
    return np.asarray(buf.get_pixels(oiio.FLOAT), dtype=np.float32)[:, :, :3].copy()


def write_exr_frame(path: Path, frame: np.ndarray) -> None:
    """A stored ACEScg frame (for extending this generation later): lossless, small."""
    spec = oiio.ImageSpec(frame.shape[1], frame.shape[0], 3, "half")
    spec.attribute("compression", "zip")
    spec.attribute("chromaticities", oiio.TypeDesc("float[8]"), AP1)
    out = oiio.ImageOutput.create(str(path))
    if out is None or not out.open(str(path), spec):
        raise MediaError(f"cannot write {path}: {oiio.geterror()}")
    out.write_image(np.ascontiguousarray(frame, dtype=np.float16))
    out.close()


def _matrix_for(frame: av.VideoFrame) -> str:
    if frame.colorspace in (9, 10):
        return "2020"
    if frame.colorspace == 1:
        return "709"
    if frame.colorspace in (5, 6):
        return "601"
    # Untagged: mpv's rule (color.md §2.2): HD sizes are BT.709, SD ones BT.601.
    return "709" if frame.width >= 1280 or frame.height > 576 else "601"


def video_frames(path: str | Path, width: int, height: int, count: int) -> Iterator[np.ndarray]:
    """``count`` frames of a video on the 24 fps grid, as ACEScg float32 (height, width, 3).

    Frame i is the source frame showing at i/24 s; past the source's end the last one holds.
    Scaling and chroma upsampling are swscale's (yuv444p, no matrix); the Y'CbCr matrix and
    range are ours, from the stream's tags (color.md §2.4).
    """
    try:
        container = av.open(str(path))
    except Exception as exc:  # PyAV raises a zoo of errors for a bad file
        raise MediaError(f"cannot open video {path}: {exc}") from exc
    with container:
        streams = container.streams.video
        if not streams:
            raise MediaError(f"{path} has no video stream")
        stream = streams[0]
        stream.thread_type = "AUTO"
        tb = stream.time_base or Fraction(1, FPS)
        start = stream.start_time or 0
        src_w, src_h = stream.codec_context.width, stream.codec_context.height
        roi = _cover_roi(src_w, src_h, width, height)
        emitted = 0
        last: Optional[np.ndarray] = None
        for frame in container.decode(stream):
            seconds = float(((frame.pts or 0) - start) * tb) if frame.pts is not None else emitted / FPS
            pixels = _frame_to_linear(frame, roi, width, height)
            # Emit this frame for every grid slot it covers (it shows until the next one).
            while emitted < count and emitted / FPS < seconds + 0.5 / FPS:
                if emitted / FPS < seconds - 0.5 / FPS and last is not None:
                    yield last
                else:
                    yield pixels
                emitted += 1
            last = pixels
            if emitted >= count:
                return
        if last is None:
            raise MediaError(f"{path} has no decodable frames")
        while emitted < count:
            yield last
            emitted += 1


def _frame_to_linear(frame: av.VideoFrame, roi: oiio.ROI, width: int, height: int) -> np.ndarray:
    deep = frame.format.name.endswith(("10le", "12le", "16le", "10be", "12be"))
    fmt = "yuv444p16le" if deep else "yuv444p"
    full = frame.format.name.startswith("yuvj") or frame.color_range == 2
    # Crop to the frame's aspect, then scale: swscale only resamples here, no matrix.
    cw, ch = roi.xend - roi.xbegin, roi.yend - roi.ybegin
    scaled = frame.reformat(width=round(width * frame.width / cw), height=round(height * frame.height / ch),
                            format=fmt, interpolation="BILINEAR")
    planes = scaled.to_ndarray()  # (3, h, w) for planar 4:4:4
    if planes.ndim == 3 and planes.shape[0] != 3:
        planes = np.moveaxis(planes, -1, 0)
    sx = round(roi.xbegin * scaled.width / frame.width)
    sy = round(roi.ybegin * scaled.height / frame.height)
    planes = planes[:, sy:sy + height, sx:sx + width]
    if planes.shape[1:] != (height, width):
        pad = np.zeros((3, height, width), planes.dtype)
        pad[:, :planes.shape[1], :planes.shape[2]] = planes
        planes = pad
    rgb = colour.ycbcr_to_rgb(planes[0], planes[1], planes[2], matrix=_matrix_for(frame),
                              bits=16 if deep else 8, full_range=full)
    kind = "pq" if frame.color_trc == 16 else "sdr"
    return colour.from_display(np.clip(rgb, 0.0, 1.0), kind)


# -- writing -------------------------------------------------------------------------------

class Mp4Writer:
    """The MP4 a generation delivers, fed with Y'CbCr 4:2:0 planes made by colour.rgb_to_yuv420."""

    def __init__(self, path: Path, width: int, height: int, *, hdr: bool) -> None:
        self.path, self.hdr = path, hdr
        self.container = av.open(str(path), "w", format="mp4")
        if hdr:
            stream = self.container.add_stream("libx265", rate=FPS)
            stream.pix_fmt = "yuv420p10le"
            params = ("colorprim=bt2020:transfer=smpte2084:colormatrix=bt2020nc:range=limited:"
                      "hdr10=1:repeat-headers=1:max-cll=1000,400:log-level=error:"
                      "master-display=G(8500,39850)B(6550,2300)R(35400,14600)WP(15635,16450)"
                      "L(10000000,50)")
            # Fast presets: this is test footage, and the suite renders a lot of it on 2 cores.
            stream.options = {"preset": "ultrafast", "crf": "16",
                              "x265-params": params}
            tags = (9, 16, 9)  # primaries bt2020, trc smpte2084, matrix bt2020nc
        else:
            stream = self.container.add_stream("libx264", rate=FPS)
            stream.pix_fmt = "yuv420p"
            stream.options = {"preset": "veryfast", "crf": "16",
                              "x264-params": "colorprim=bt709:transfer=bt709:colormatrix=bt709:range=tv"}
            tags = (1, 1, 1)
        stream.width, stream.height = width, height
        cc = stream.codec_context
        cc.color_primaries, cc.color_trc, cc.colorspace = tags
        cc.color_range = 1  # MPEG / limited ("tv")
        cc.time_base = Fraction(1, FPS)
        self.stream, self.tags = stream, tags
        self.index = 0

    def write(self, planes: np.ndarray) -> None:
        frame = av.VideoFrame.from_ndarray(planes, format=self.stream.pix_fmt)
        frame.color_primaries, frame.color_trc, frame.colorspace = self.tags
        frame.color_range = 1
        frame.pts = self.index
        frame.time_base = Fraction(1, FPS)
        self.index += 1
        for packet in self.stream.encode(frame):
            self.container.mux(packet)

    def close(self) -> None:
        for packet in self.stream.encode(None):
            self.container.mux(packet)
        self.container.close()

    def abort(self) -> None:
        try:
            self.container.close()
        except Exception:
            pass


class ExrZipWriter:
    """ACES2065-1 half DWAB frames, written one by one into a single stored (not deflated) ZIP.

    How Luma packages its EXR export (one file, a sequence, a ZIP) is undocumented
    (luma-agents-api.md); one ZIP is our choice, and fetch/ingest decide by content anyway.

    DWAB is already compressed, so the ZIP stores members as they are. OIIO writes files, so
    each frame is first encoded to a scratch file beside the ZIP (``encode``, safe from any
    thread: the renderer's frame workers compress frames in parallel), then ``add``-ed in
    frame order and removed.
    """

    def __init__(self, path: Path, stem: str, *, header: Optional[dict[str, str]] = None) -> None:
        self.path, self.stem = path, stem
        self.header = header or {}
        self.zip = zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED, allowZip64=True)

    def _scratch(self, index: int) -> Path:
        return self.path.parent / f".{self.path.name}.{index:04d}.exr"

    def encode(self, index: int, aces2065_half: np.ndarray) -> Path:
        h, w = aces2065_half.shape[:2]
        spec = oiio.ImageSpec(w, h, 3, "half")
        spec.attribute("compression", EXR_COMPRESSION)
        spec.attribute("chromaticities", oiio.TypeDesc("float[8]"), AP0)
        spec.attribute("adoptedNeutral", oiio.TypeDesc("float[2]"), (0.32168, 0.33767))
        spec.attribute("oiio:ColorSpace", "lin_ap0_scene")
        spec.attribute("FramesPerSecond", oiio.TypeDesc("rational"), (FPS, 1))
        for key, value in self.header.items():
            spec.attribute(key, value)
        scratch = self._scratch(index)
        out = oiio.ImageOutput.create(str(scratch))
        if out is None or not out.open(str(scratch), spec):
            raise MediaError(f"cannot write an EXR frame: {oiio.geterror()}")
        out.write_image(np.ascontiguousarray(aces2065_half))
        out.close()
        return scratch

    def add(self, index: int, scratch: Path) -> None:
        self.zip.write(scratch, f"{self.stem}.{index:04d}.exr")
        os.unlink(scratch)

    def write(self, index: int, aces2065_half: np.ndarray) -> None:
        self.add(index, self.encode(index, aces2065_half))

    def close(self) -> None:
        self.zip.close()

    def abort(self) -> None:
        try:
            self.zip.close()
        finally:
            for scratch in self.path.parent.glob(f".{self.path.name}.*.exr"):
                scratch.unlink(missing_ok=True)
