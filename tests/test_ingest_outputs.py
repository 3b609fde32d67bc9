"""Extra outputs of a take, each read back with its own reader: the ST 2065-4 archival master,
DPX 10/12-bit and 16-bit TIFF in ACEScct, and the review movies."""
from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest

from genplate.core.ingest.convert import ingest
from genplate.core.ingest.options import IngestError, IngestOptions

from test_ingest_media import FakeStaging, make_clip, patch_means, read_exr

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    import colour

CS = colour.RGB_COLOURSPACES
ALL = ("aces-archive", "dpx10", "dpx12", "tiff16", "review-sdr", "review-hdr")


@pytest.fixture(scope="module")
def take(tmp_path_factory):
    folder = tmp_path_factory.mktemp("outputs")
    clip = make_clip(folder / "c.mp4", "sdr", frames=4)
    staging = FakeStaging(folder / "take")
    result = ingest([clip.path], staging, IngestOptions(outputs=ALL),
                    header={"genplate:shot": "sh010", "genplate:prompt": "outputs"})
    main, _ = read_exr(staging.frame_path(1002))
    return staging, result, main


def _read(path: Path):
    import OpenImageIO as oiio

    inp = oiio.ImageInput.open(str(path))
    assert inp is not None, oiio.geterror()
    spec = inp.spec()
    pixels = inp.read_image(0, 0, 0, 3, "float")
    attrs = {a.name: a.value for a in spec.extra_attribs}
    fmt = str(spec.format)
    inp.close()
    return pixels, attrs, fmt


def _acescct(acescg):
    with np.errstate(divide="ignore", invalid="ignore"):  # colour-science's unused log branch
        return colour.models.log_encoding_ACEScct(np.asarray(acescg, np.float64))


def test_outputs_are_recorded(take):
    staging, result, _ = take
    names = [o["name"] for o in result.colour_record()["outputs"]]
    assert names == list(ALL)
    dpx = result.colour_record()["outputs"][1]
    assert dpx["pattern"] == "dpx10/shot_v001.%04d.dpx" and dpx["space"] == "ACEScct"
    assert (dpx["first"], dpx["last"]) == (1001, 1004)


def test_aces_archive_follows_st2065_4(take):
    import OpenEXR

    staging, _, main = take
    path = staging.dir / "aces" / "shot_v001.1002.exr"
    assert path.read_bytes()[4:8] == b"\x02\x00\x00\x00"  # version 2: scanline, short names
    exr = OpenEXR.File(str(path))
    header = exr.header()
    assert header["acesImageContainerFlag"] == 1
    assert str(header["compression"]).endswith("NO_COMPRESSION")
    assert np.allclose(header["chromaticities"], (0.7347, 0.2653, 0.0, 1.0, 0.0001, -0.077,
                                                  0.32168, 0.33767), atol=1e-6)
    assert np.allclose(header["adoptedNeutral"], (0.32168, 0.33767), atol=1e-6)
    assert header["colorInteropID"] == "lin_ap0_scene"
    pixels = exr.channels()["RGB"].pixels
    assert pixels.dtype == np.float16
    expected = colour.RGB_to_RGB(main.astype(np.float64), CS["ACEScg"], CS["ACES2065-1"],
                                 chromatic_adaptation_transform=None)
    assert np.allclose(pixels.astype(np.float64), expected, rtol=2e-3, atol=2e-4)
    assert pixels.max() > 100  # display-match white (128) kept


@pytest.mark.parametrize("name,bits", [("dpx10", 10), ("dpx12", 12)])
def test_dpx_in_acescct(take, name, bits):
    staging, _, main = take
    pixels, attrs, fmt = _read(staging.dir / name / f"shot_v001.1002.dpx")
    assert fmt == "uint16" and attrs["oiio:BitsPerSample"] == bits
    assert attrs.get("dpx:Transfer") == "Logarithmic"
    expected = np.clip(_acescct(main), 0, 1)
    assert np.abs(pixels - expected).max() < 1.0 / (2 ** bits - 1) + 2e-4


def test_tiff16_in_acescct(take):
    staging, _, main = take
    pixels, attrs, fmt = _read(staging.dir / "tiff16" / "shot_v001.1003.tif")
    assert fmt == "uint16" and attrs["compression"] == "zip"
    main3, _ = read_exr(staging.frame_path(1003))
    assert np.abs(pixels - np.clip(_acescct(main3), 0, 1)).max() < 5e-4


@pytest.mark.parametrize("name,codec,pix_fmt,tags", [
    ("review-sdr", "h264", "yuv420p", (1, 1, 1, 1)),
    ("review-hdr", "hevc", "yuv420p10le", (9, 9, 16, 1)),
])
def test_review_movies(take, name, codec, pix_fmt, tags):
    import av

    staging, result, _ = take
    record = [o for o in result.colour_record()["outputs"] if o["name"] == name][0]
    path = staging.dir / record["path"]
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        cc = stream.codec_context
        assert cc.name == codec and cc.pix_fmt == pix_fmt
        assert (cc.colorspace, cc.color_primaries, cc.color_trc, cc.color_range) == tags
        frames = list(container.decode(stream))
    assert len(frames) == 4
    assert stream.average_rate == 24


def test_review_sdr_looks_like_the_source(take):
    """display-match then the same view forward: the review movie shows the source's codes."""
    import av

    staging, result, _ = take
    with av.open(str(staging.dir / "review" / "shot_v001_sdr.mp4")) as container:
        frame = next(container.decode(video=0))
        rgb = frame.to_ndarray(format="rgb24", src_colorspace="ITU709").astype(np.float64) / 255
    ladder = patch_means(rgb, 4, 6)[0, :, 1]  # the source's grey ladder row
    assert np.allclose(ladder, np.linspace(0, 1, 6), atol=4 / 255)


def test_unknown_output_is_refused(tmp_path):
    clip = make_clip(tmp_path / "c.mp4", "sdr", frames=1)
    with pytest.raises(IngestError, match="output 'prores'"):
        ingest([clip.path], FakeStaging(tmp_path / "s"), IngestOptions(outputs=("prores",)),
               header={})
