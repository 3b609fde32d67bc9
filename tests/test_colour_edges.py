"""Colour at the edges (issue #15): what ingest does with values beyond what half float, a view
or a code range can hold. Every case runs the real ingest on media made here (lossless H.264 /
HEVC through PyAV, EXR frames with known values) and is measured against colour-science or an
OCIO round trip; each test's name carries its tolerance.
"""
from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import OpenImageIO as oiio
import PyOpenColorIO as ocio
import pytest

from genplate.core.ingest.convert import ingest
from genplate.core.ingest.options import IngestError, IngestOptions
from genplate.ocio import BUILTIN_CONFIG
from genplate.ocio import config as C

from test_ingest_media import (AP0, TAGS, FakeStaging, codes_for, encode, patch_means, planes_for,
                               read_exr, rgb_for)

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    import colour

CS = colour.RGB_COLOURSPACES
HALF_MAX = 65504.0
SDR_DISPLAY, SDR_VIEW = "Rec.1886 Rec.709 - Display", "ACES 2.0 - SDR 100 nits (Rec.709)"
PQ_DISPLAY = "Rec.2100-PQ - Display"
ONE_10BIT_CODE = 1.0 / 876  # one limited-range 10-bit code, in signal units


def _ingest(tmp_path, paths, name="out", **options):
    staging = FakeStaging(tmp_path / name)
    result = ingest([Path(p) for p in paths], staging, IngestOptions(**options), header={})
    return staging, result


def _cpu(transform):
    config = C.load_config(BUILTIN_CONFIG).config
    return config.getProcessor(transform).getDefaultCPUProcessor()


def _apply(cpu, rgb) -> np.ndarray:
    pixels = np.ascontiguousarray(np.asarray(rgb, np.float32).reshape(-1, 3))
    cpu.applyRGB(pixels)
    return pixels.reshape(np.shape(rgb)).astype(np.float64)


def _forward(display, view):
    return _cpu(ocio.DisplayViewTransform(src="ACEScg", display=display, view=view))


def _inverse(display, view):
    return _cpu(ocio.DisplayViewTransform(src="ACEScg", display=display, view=view,
                                          direction=ocio.TRANSFORM_DIR_INVERSE))


def _clip(path, codes, kind, *, frames=2, params=""):
    """A lossless clip of patches with these integer Y'CbCr codes (rows x cols x 3)."""
    if kind in ("pq", "hlg"):
        # no B-frames: with a frame or two of flat patches the mp4 muxer refuses x265's reordering
        options = {"x265-params": "lossless=1:log-level=none:bframes=0" + params}
        return encode(path, planes_for(codes), frames=frames, pix_fmt="yuv420p10le",
                      codec="libx265", options=options, tags=TAGS[kind])
    return encode(path, planes_for(codes), frames=frames, pix_fmt="yuv420p", codec="libx264",
                  options={"qp": "0"}, tags=TAGS[kind])


def _ulp16(x):
    """The spacing of half floats at |x| (subnormals included)."""
    x = np.abs(np.asarray(x, np.float64))
    exponent = np.floor(np.log2(np.maximum(x, 2.0 ** -14)))
    return 2.0 ** (exponent - 10)


# -- EXR deliveries: full precision in, clamped (never inf) out ------------------------------------

def _write_float_exr(path: Path, pixels: np.ndarray, chromaticities=AP0) -> Path:
    spec = oiio.ImageSpec(pixels.shape[1], pixels.shape[0], 3, "float")
    spec.channelnames = ("R", "G", "B")
    spec.attribute("compression", "zip")
    spec.attribute("chromaticities", oiio.TypeDesc("float[8]"), tuple(chromaticities))
    out = oiio.ImageOutput.create(str(path))
    assert out.open(str(path), spec), out.geterror()
    assert out.write_image(np.ascontiguousarray(pixels, np.float32))
    out.close()
    return path


EDGES = np.array([(1e5, 5e4, 100.0), (-1e5, 3.0, 2.0), (7e4, 7e4, 7e4), (2e5, -2e5, 0.5)])


def _float_delivery(folder: Path, frames=2):
    """Float32 AP0 frames: random scene values at full float precision, plus, in every frame
    but the last, a row of values beyond half's range."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(15)
    sources, paths = [], []
    for i in range(frames):
        pixels = rng.lognormal(-1.0, 2.0, size=(16, 24, 3)).astype(np.float32)
        if i < frames - 1:
            pixels[0, :len(EDGES)] = EDGES
        sources.append(pixels)
        paths.append(_write_float_exr(folder / f"plate.{i:04d}.exr", pixels))
    return sources, paths


def _ap0_to_ap1(pixels):
    return colour.RGB_to_RGB(pixels.astype(np.float64), CS["ACES2065-1"], CS["ACEScg"],
                             chromatic_adaptation_transform=None)


def test_float_exr_beyond_half_is_clamped_channel_by_channel_within_half_an_ulp(tmp_path):
    sources, paths = _float_delivery(tmp_path / "in")
    staging, result = _ingest(tmp_path, paths)
    expected_clamped = 0
    for i, source in enumerate(sources):
        pixels, attrs = read_exr(staging.frame_path(1001 + i))
        assert attrs["_format"] == "half"
        assert np.isfinite(pixels).all()
        ref = _ap0_to_ap1(source)
        expected_clamped += int((np.abs(ref) >= 65520).sum())  # what half cannot round to
        ref = np.clip(ref, -HALF_MAX, HALF_MAX)
        # read at float precision, transformed in float, rounded to half once
        assert (np.abs(pixels - ref) <= 0.5 * _ulp16(ref) + 1e-6 * np.abs(ref)).all()
    first, _ = read_exr(staging.frame_path(1001))
    # (1e5, 5e4, 100) in AP0 is (133k, 51k, 630) in AP1: R clamped, G and B kept
    assert first[0, 0, 0] == HALF_MAX
    assert first[0, 0, 1] == pytest.approx(_ap0_to_ap1(EDGES[0])[1], rel=1e-3)
    assert first[0, 0, 2] == pytest.approx(_ap0_to_ap1(EDGES[0])[2], rel=1e-3)
    assert first[0, 1, 0] == -HALF_MAX
    clamped = result.colour_record()["clamped"]
    assert expected_clamped > 0
    assert clamped["values"] == expected_clamped and clamped["frames"] == 1
    assert clamped["limit"] == HALF_MAX and clamped["non_finite"] == 0


def test_float_exr_passthrough_to_half_is_clamped_and_counted_exactly(tmp_path):
    sources, paths = _float_delivery(tmp_path / "in")
    staging, result = _ingest(tmp_path, paths, working_space="ACES2065-1")
    assert result.transform.mode == "passthrough"
    pixels, _ = read_exr(staging.frame_path(1001))
    assert np.isfinite(pixels).all()
    with np.errstate(over="ignore"):  # numpy's own rounding to half: beyond it is inf
        ref = np.clip(sources[0].astype(np.float16).astype(np.float64), -HALF_MAX, HALF_MAX)
    assert np.array_equal(pixels, ref)
    assert result.colour_record()["clamped"]["values"] == int(
        (np.abs(np.concatenate(sources)) >= 65520).sum())


def test_float_exr_to_a_float_take_keeps_values_beyond_half_within_1e6_relative(tmp_path):
    sources, paths = _float_delivery(tmp_path / "in")
    staging, result = _ingest(tmp_path, paths, pixel_type="float")
    pixels, attrs = read_exr(staging.frame_path(1001))
    assert attrs["_format"] == "float"
    ref = _ap0_to_ap1(sources[0])
    assert np.allclose(pixels, ref, rtol=1e-6, atol=1e-7)
    assert pixels[0, 0, 0] == pytest.approx(133_290, rel=1e-3)
    assert result.colour_record()["clamped"]["values"] == 0


def test_non_finite_exr_values_never_reach_the_take_exactly_counted(tmp_path):
    pixels = np.full((8, 8, 3), 0.25, np.float32)
    pixels[0, 0] = (np.inf, 1.0, 1.0)
    pixels[0, 1] = (np.nan, 1.0, 1.0)
    pixels[0, 2] = (1.0, -np.inf, 1.0)
    path = _write_float_exr(tmp_path / "nan.0001.exr", pixels)
    for space in ("ACEScg", "ACES2065-1"):
        staging, result = _ingest(tmp_path, [path], space, working_space=space)
        out, _ = read_exr(staging.frame_path(1001))
        assert np.isfinite(out).all()
        clamped = result.colour_record()["clamped"]
        assert clamped["non_finite"] == 3  # the three non-finite channels of the delivery
        assert clamped["frames"] == 1
        # a NaN channel reads as 0, the rest of its pixel is kept
        untouched = _ap0_to_ap1(np.array([0.0, 1.0, 1.0])) if space == "ACEScg" else (0, 1, 1)
        assert np.allclose(out[0, 1], untouched, rtol=2e-3)
        # an infinite channel is as far as half goes, with its sign
        assert out[0, 0, 0] == HALF_MAX and out[0, 2, 1] == -HALF_MAX


# -- PQ: the view is chosen from the content -------------------------------------------------------

def _pq_patches(peak_signal: float, rows=3, cols=6, seed=3) -> np.ndarray:
    """PQ R'G'B' signals: a grey ladder up to ``peak_signal`` (the brightest patch, with only
    neutral neighbours, so chroma upsampling lifts nothing above it) over low-saturation
    colours below 85 % of it."""
    rng = np.random.default_rng(seed)
    rgb = np.empty((rows, cols, 3))
    rgb[0] = np.linspace(0.3, peak_signal, cols)[:, None]
    grey = np.linspace(0.3, 0.85 * peak_signal, (rows - 1) * cols).reshape(rows - 1, cols, 1)
    rgb[1:] = grey + rng.uniform(-0.03, 0.03, size=(rows - 1, cols, 3))
    rgb[1:, -1] = grey[:, -1]
    return np.clip(rgb, 0.0, peak_signal)


def _pq_clip(path, peak_signal, params=""):
    codes = codes_for(_pq_patches(peak_signal), "bt2020nc", False, 10)
    _clip(path, codes, "pq", params=params)
    return rgb_for(codes, "bt2020nc", False, 10)


def _pq_round_trip_error(staging, result, rgb) -> np.ndarray:
    means = patch_means(read_exr(staging.frame_path(result.first))[0], *rgb.shape[:2])
    back = _apply(_forward(result.transform.display, result.transform.view), means)
    return np.abs(back - rgb).max(axis=-1)


def test_pq_without_metadata_takes_the_view_that_holds_the_content_within_one_10bit_code(tmp_path):
    rgb = _pq_clip(tmp_path / "pq3600.mp4", 0.89)  # ~3600 nits: the 4000-nit view holds it
    staging, result = _ingest(tmp_path, [tmp_path / "pq3600.mp4"], pixel_type="float")
    assert result.transform.view == "ACES 2.0 - HDR 4000 nits (Rec.2020)"
    peak = result.colour_record()["hdr_peak"]
    assert peak["measured_nits"] == pytest.approx(colour.models.eotf_ST2084(rgb.max()), rel=1e-3)
    assert peak["view_nits"] == 4000 and peak["chosen_by"] == "content"
    assert peak["metadata_nits"] is None
    # nothing the view can show was clipped: every patch comes back through it
    assert _pq_round_trip_error(staging, result, rgb).max() < ONE_10BIT_CODE


def test_pq_content_brighter_than_its_metadata_wins_within_one_10bit_code(tmp_path):
    rgb = _pq_clip(tmp_path / "liar.mp4", 0.85, params=(
        ":hdr10=1:max-cll=1000,400:master-display="
        "G(13250,34500)B(7500,3000)R(34000,16000)WP(15635,16450)L(10000000,50)"))
    staging, result = _ingest(tmp_path, [tmp_path / "liar.mp4"], pixel_type="float")
    peak = result.colour_record()["hdr_peak"]
    assert peak["metadata_nits"] == 1000 and peak["measured_nits"] > 2000
    assert result.transform.view == "ACES 2.0 - HDR 4000 nits (Rec.2020)"
    assert peak["chosen_by"] == "content"
    assert _pq_round_trip_error(staging, result, rgb).max() < ONE_10BIT_CODE


def test_pq_metadata_wins_when_the_content_stays_below_it_and_the_peak_is_recorded(tmp_path):
    rgb = _pq_clip(tmp_path / "dim.mp4", 0.70, params=(  # ~ 620 nits
        ":hdr10=1:max-cll=3000,400:master-display="
        "G(13250,34500)B(7500,3000)R(34000,16000)WP(15635,16450)L(40000000,50)"))
    _, result = _ingest(tmp_path, [tmp_path / "dim.mp4"])
    peak = result.colour_record()["hdr_peak"]
    assert result.transform.view == "ACES 2.0 - HDR 4000 nits (Rec.2020)"
    assert peak["chosen_by"] == "metadata" and peak["metadata_nits"] == 3000
    assert peak["measured_nits"] == pytest.approx(colour.models.eotf_ST2084(rgb.max()), rel=1e-3)


def test_pq_peak_late_in_the_clip_converts_every_frame_through_the_final_view_bit_exact(tmp_path):
    dim = codes_for(_pq_patches(0.70), "bt2020nc", False, 10)
    bright = codes_for(_pq_patches(0.80), "bt2020nc", False, 10)  # ~1500 nits
    path = tmp_path / "late.mp4"
    import av

    from genplate.core.ingest.video import ycbcr_frame

    with av.open(str(path), "w", format="mp4") as container:
        stream = container.add_stream("libx265", rate=24)
        stream.width, stream.height, stream.pix_fmt = 6 * 32, 3 * 32, "yuv420p10le"
        stream.options = {"x265-params": "lossless=1:log-level=none:bframes=0"}
        for key, value in TAGS["pq"].items():
            setattr(stream.codec_context, key, value)
        for i, codes in enumerate((dim, dim, dim, bright)):
            frame = ycbcr_frame([p.astype(np.uint16) for p in planes_for(codes)], "yuv420p10le",
                                tags=TAGS["pq"], pts=i)
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    staging, result = _ingest(tmp_path, [path], "auto", workers=1)
    assert result.transform.view == "ACES 2.0 - HDR 2000 nits (Rec.2020)"
    assert result.colour_record()["hdr_peak"]["chosen_by"] == "content"
    forced, _ = _ingest(tmp_path, [path], "forced", peak_nits=2000)
    for frame in range(1001, 1005):
        a, _ = read_exr(staging.frame_path(frame))
        b, _ = read_exr(forced.frame_path(frame))
        assert np.array_equal(a, b), frame


@pytest.mark.parametrize("kind", ["hdr-pq", "hdr-hlg"])
def test_peak_measure_is_exactly_the_brightest_pixel_of_padded_planes(kind):
    """The row bounds and candidates skip work, never a pixel: the measure equals the
    brightest R'G'B' of every pixel (for HLG, colour-science's display light of it)."""
    from genplate.ocio import peak as P
    from genplate.ocio.ycbcr import YCbCrCoding

    coding = YCbCrCoding("bt2020nc", False, 10, 16)
    meter = P.SignalPeak(coding, kind)
    rng = np.random.default_rng(4)
    brightest = 0.0
    for i in range(5):
        h, w = 60, 90
        planes = [(rng.integers(lo, hi, (h, w + 6)) << 6).astype(np.uint16)
                  for lo, hi in ((64, 900), (300, 724), (300, 724))]
        if i == 3:
            planes[0][40, 7] = 1019 << 6  # a lone super-white, late
        views = [p[:, :w] for p in planes]  # swscale's padded rows
        codes = np.stack([v.reshape(-1) >> 6 for v in views], axis=-1)
        signal = rgb_for(codes, "bt2020nc", False, 10)
        if kind == "hdr-pq":
            nits = colour.models.eotf_ST2084(np.clip(signal.max(), 0, 1))
        else:
            nits = colour.models.eotf_BT2100_HLG(np.clip(signal, 0, None), L_W=1000).max()
        brightest = max(brightest, float(nits))
        meter.frame(*views)
        assert meter.nits == pytest.approx(brightest, rel=1e-6)


# -- HLG: a Rec.2020 path ------------------------------------------------------------------------

def _itp_of_hlg(signal):
    nits = colour.models.eotf_BT2100_HLG(np.clip(signal, 0, None), L_W=1000)
    return colour.RGB_to_ICtCp(nits, method="ITU-R BT.2100-2 PQ")


def _itp_of_pq(signal):
    return colour.RGB_to_ICtCp(colour.models.eotf_ST2084(np.clip(signal, 0, None)),
                               method="ITU-R BT.2100-2 PQ")


def _rec2020_outside_p3(count, seed=8):
    """HLG signals of Rec.2020 colours that P3 cannot hold (signal saturation below 0.8,
    where the ACES 2.0 Rec.2020-limited rendering can reach them), none brighter than 0.9."""
    rng = np.random.default_rng(seed)
    to_p3 = colour.matrix_RGB_to_RGB(CS["ITU-R BT.2020"], CS["P3-D65"])
    found = []
    while len(found) < count:
        hlg = rng.uniform(0.05, 0.9, size=3)
        saturation = (hlg.max() - hlg.min()) / hlg.max()
        p3 = to_p3 @ colour.models.oetf_inverse_BT2100_HLG(hlg)
        if saturation < 0.8 and p3.min() < -0.01:
            found.append(hlg)
    return np.array(found)


def test_hlg_rec2020_colours_round_trip_within_1_delta_e_itp(tmp_path):
    rows, cols = 3, 6
    rgb = np.empty((rows, cols, 3))
    rgb[0] = np.linspace(0.1, 1.0, cols)[:, None]
    rgb[1:] = _rec2020_outside_p3((rows - 1) * cols).reshape(rows - 1, cols, 3)
    rgb[1, -1] = 0.5  # HLG white's only neighbours are neutral: no chroma edge lifts it
    codes = codes_for(rgb, "bt2020nc", False, 10)
    signal = rgb_for(codes, "bt2020nc", False, 10)
    _clip(tmp_path / "hlg.mp4", codes, "hlg")
    staging, result = _ingest(tmp_path, [tmp_path / "hlg.mp4"], pixel_type="float")
    record = result.colour_record()
    assert record["view"] == "ACES 2.0 - HDR 1000 nits (Rec.2020)"
    assert "Rec.2100-HLG - Display" in record["input_transform"]
    assert record["route"]  # says what was chosen and why
    means = patch_means(read_exr(staging.frame_path(1001))[0], rows, cols)
    # back through the view a colourist watches it in, on a PQ monitor of the same light
    pq = _apply(_forward(PQ_DISPLAY, record["view"]), means)
    delta = colour.difference.delta_E_ITP(_itp_of_hlg(signal), _itp_of_pq(pq))
    assert delta.max() < 1.0, delta


# -- SDR display-match beyond 16-235 ---------------------------------------------------------------

LADDER = np.array([1, 2, 4, 8, 12, 15, 16, 17, 30, 60, 126, 200, 230, 234, 235, 236, 238, 240,
                   244, 248, 250, 252, 254])


def _grey_clip(path, ys):
    codes = np.stack([ys, np.full_like(ys, 128), np.full_like(ys, 128)], axis=-1)[None]
    _clip(path, codes, "sdr")
    return (ys - 16) / 219.0  # the R'G'B' signal of each grey


def _bt1886(x):
    return colour.models.eotf_BT1886(np.asarray(x, np.float64), L_B=0, L_W=1)


def test_sdr_display_match_keeps_super_whites_and_sub_blacks_monotonic_within_half_precision(
        tmp_path):
    signal = _grey_clip(tmp_path / "ladder.mp4", LADDER)
    staging, result = _ingest(tmp_path, [tmp_path / "ladder.mp4"])
    grey = patch_means(read_exr(staging.frame_path(1001))[0], 1, len(LADDER))[0]
    assert (np.diff(grey[:, 1]) > 0).all(), grey[:, 1]  # every code keeps its own value
    inverse = _inverse(SDR_DISPLAY, SDR_VIEW)
    white = _apply(inverse, [[1.0, 1.0, 1.0]])[0]
    inside = (signal >= 0) & (signal <= 1)
    expected = np.empty_like(grey)
    expected[inside] = _apply(inverse, np.repeat(signal[inside, None], 3, axis=1))
    above = signal > 1  # continues as BT.1886 does, scaled to the view's white
    expected[above] = white * _bt1886(signal[above])[:, None]
    below = signal < 0  # mirrors the inverse about black
    expected[below] = -_apply(inverse, np.repeat(-signal[below, None], 3, axis=1))
    assert np.allclose(grey, expected, rtol=2e-3, atol=2e-4)
    assert grey[LADDER == 254, 1] > 150 and grey[LADDER == 1, 1] < 0
    record = result.colour_record()
    assert record["sdr_range"] == "extend"


def test_sdr_range_clip_keeps_the_views_range_only_exactly(tmp_path):
    _grey_clip(tmp_path / "ladder.mp4", LADDER)
    staging, result = _ingest(tmp_path, [tmp_path / "ladder.mp4"], sdr_range="clip")
    grey = patch_means(read_exr(staging.frame_path(1001))[0], 1, len(LADDER))[0][:, 1]
    white = grey[LADDER == 235][0]
    assert (grey[LADDER >= 235] == white).all() and (grey[LADDER <= 16] == 0).all()
    assert result.colour_record()["sdr_range"] == "clip"
    with pytest.raises(IngestError, match="sdr_range"):
        _ingest(tmp_path, [tmp_path / "ladder.mp4"], "bad", sdr_range="squeeze")


def test_sdr_extension_adds_only_neutral_light_where_the_view_gives_white_or_black(tmp_path):
    rgb = np.array([[[1.06, 1.03, 1.01],     # a tinted super-white: the monitor shows white
                     [-0.02, -0.04, -0.01],  # a tinted sub-black: the monitor shows black
                     [1.06, 0.40, 0.30],     # a coloured overshoot: left as the view gives it
                     [0.50, 0.45, -0.05],
                     [0.60, 0.55, 0.50]]])
    codes = codes_for(rgb, "bt709", False, 8)
    signal = rgb_for(codes, "bt709", False, 8)[0]
    _clip(tmp_path / "colours.mp4", codes, "sdr")
    table, _ = _ingest(tmp_path, [tmp_path / "colours.mp4"], "table")
    direct, _ = _ingest(tmp_path, [tmp_path / "colours.mp4"], "direct", exact_table=False)
    a, _ = read_exr(table.frame_path(1001))
    b, _ = read_exr(direct.frame_path(1001))
    assert np.array_equal(a, b)  # the memo table is still the exact result
    means = patch_means(a, 1, len(signal))[0]
    inverse = _inverse(SDR_DISPLAY, SDR_VIEW)
    view = _apply(inverse, np.clip(signal, 0, 1))
    white = _apply(inverse, [[1.0, 1.0, 1.0]])[0, 1]
    white_light = colour.matrix_RGB_to_RGB(CS["ITU-R BT.709"], CS["ACEScg"],
                                           chromatic_adaptation_transform="Bradford").sum(axis=1)
    expected = view.copy()
    expected[0] += white * (_bt1886(signal[0].min()) - 1) * white_light
    expected[1] -= _apply(inverse, [[-signal[1].max()] * 3])[0, 1] * white_light
    assert np.allclose(means, expected, rtol=2e-3, atol=2e-4)
    assert means[0].min() > view[0].max() and means[1].max() < 0


def test_sdr_extension_is_invisible_through_the_view_within_a_thousandth_of_a_code():
    """Over 8-bit Y'CbCr triples, what the extension adds never changes what the view shows:
    the plate still looks like the MP4 (a coloured overshoot made brighter would not)."""
    from genplate.ocio import extend as E
    from genplate.ocio import sources as S
    from genplate.ocio.ycbcr import YCbCrCoding

    info = C.load_config(BUILTIN_CONFIG)
    t = S.input_transform(info.config, S.SDR_REC709, S.DISPLAY_MATCH, "ACEScg")
    beyond = E.BeyondRange(info, t, YCbCrCoding("bt709", False, 8, 8))
    rng = np.random.default_rng(6)
    y, cb, cr = (rng.integers(0, 256, 200_000) for _ in range(3))
    y[:19] = np.arange(236, 255)  # every super-white grey
    cb[:19] = cr[:19] = 128
    signal = beyond.signal(y, cb, cr)
    view = _apply(_inverse(SDR_DISPLAY, SDR_VIEW), np.clip(signal, 0, 1)).astype(np.float32)
    extended = view.copy()
    assert beyond.apply(y, cb, cr, extended) > 19
    assert (np.diff(extended[:19, 1]) > 0).all()
    forward = _forward(SDR_DISPLAY, SDR_VIEW)
    assert np.abs(_apply(forward, extended) - _apply(forward, view)).max() < 1e-3 / 255


def test_texture_mirrors_sub_blacks_about_black_within_half_precision(tmp_path):
    signal = _grey_clip(tmp_path / "ladder.mp4", LADDER)
    staging, result = _ingest(tmp_path, [tmp_path / "ladder.mp4"], sdr_mode="texture")
    grey = patch_means(read_exr(staging.frame_path(1001))[0], 1, len(LADDER))[0][:, 1]
    expected = np.sign(signal) * _bt1886(np.abs(signal))  # BT.1886 mirrored, not linear
    assert np.allclose(grey, expected, rtol=2e-3, atol=1e-5)
    assert (np.diff(grey) > 0).all()
    assert grey[LADDER == 1][0] == pytest.approx(-_bt1886(15 / 219), rel=2e-3)


def test_srgb_texture_continues_its_linear_toe_below_black_within_half_precision(tmp_path):
    ys = np.array([1, 4, 8, 15, 16, 20])
    codes = np.stack([ys, np.full_like(ys, 128), np.full_like(ys, 128)], axis=-1)[None]
    encode(tmp_path / "srgb.mp4", planes_for(codes), frames=1, pix_fmt="yuv420p",
           codec="libx264", options={"qp": "0"},
           tags=dict(colorspace=1, color_primaries=1, color_trc=13, color_range=1))
    staging, result = _ingest(tmp_path, [tmp_path / "srgb.mp4"], sdr_mode="texture")
    assert result.source_kind == "sdr-srgb"
    grey = patch_means(read_exr(staging.frame_path(1001))[0], 1, len(ys))[0][:, 1]
    signal = (ys - 16) / 219.0
    assert np.allclose(grey, signal / 12.92, rtol=2e-3, atol=1e-6)


# -- pixel type and headers ------------------------------------------------------------------------

def _saturated_clip(path):
    """Primaries and secondaries at full code (where half's step, 0.06 at the view's top,
    shows) and just inside; R'G'B' as the monitor shows it (rounding overshoots clipped)."""
    rgb = np.array([[[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0],
                     [1.0, 1.0, 0.0], [0.0, 1.0, 1.0], [1.0, 0.0, 1.0]],
                    [[0.95, 0.05, 0.05], [0.05, 0.95, 0.05], [0.05, 0.05, 0.95],
                     [0.95, 0.95, 0.05], [0.05, 0.95, 0.95], [0.95, 0.05, 0.95]]])
    codes = codes_for(rgb, "bt709", False, 8)
    _clip(path, codes, "sdr")
    return np.clip(rgb_for(codes, "bt709", False, 8), 0, 1)


def _round_trip_codes(staging, rgb):
    pixels, attrs = read_exr(staging.frame_path(1001))
    centres = pixels[16::32, 16::32][:rgb.shape[0], :rgb.shape[1]]
    back = _apply(_forward(SDR_DISPLAY, SDR_VIEW), centres)
    return np.abs(back - rgb).max() * 255, attrs


def test_display_match_float_take_round_trips_saturated_colours_within_half_a_code(tmp_path):
    rgb = _saturated_clip(tmp_path / "sat.mp4")
    staging, _ = _ingest(tmp_path, [tmp_path / "sat.mp4"], pixel_type="float")
    error, attrs = _round_trip_codes(staging, rgb)
    assert attrs["_format"] == "float" and error < 0.5


def test_headers_carry_the_sdr_mode_only_for_sdr_video(tmp_path):
    sources, paths = _float_delivery(tmp_path / "in", frames=1)
    staging, result = _ingest(tmp_path, paths, "exr")
    _, attrs = read_exr(staging.frame_path(1001))
    assert "genplate:sdr_mode" not in attrs
    assert result.colour_record()["sdr_mode"] is None
    _pq_clip(tmp_path / "pq.mp4", 0.7)
    staging, result = _ingest(tmp_path, [tmp_path / "pq.mp4"], "pq")
    _, attrs = read_exr(staging.frame_path(1001))
    assert "genplate:sdr_mode" not in attrs and attrs["genplate:hdr_mode"] == "display-match"
    _grey_clip(tmp_path / "sdr.mp4", LADDER[:4])
    staging, result = _ingest(tmp_path, [tmp_path / "sdr.mp4"], "sdr")
    _, attrs = read_exr(staging.frame_path(1001))
    assert attrs["genplate:sdr_mode"] == "display-match"
    assert attrs["genplate:sdr_range"] == "extend"


def test_sdr_range_and_clamps_reach_take_json_through_the_command(tmp_path, capsys):
    import json

    from genplate.core.cli.main import main
    from genplate.core.takes import take as takes

    _grey_clip(tmp_path / "ladder.mp4", LADDER)
    code = main(["ingest", str(tmp_path / "ladder.mp4"), "--root", str(tmp_path / "takes"),
                 "--sdr-range", "clip", "--json"])
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert code == 0, out
    colour_record = takes.load_take(out["dir"]).record["colour"]
    assert colour_record["sdr_range"] == "clip"
    assert colour_record["clamped"] == {"values": 0, "non_finite": 0, "frames": 0,
                                        "limit": HALF_MAX}
    # a refused choice is one line naming the valid ones (the command's usage contract)
    assert main(["ingest", str(tmp_path / "ladder.mp4"), "--sdr-range", "squeeze"]) == 2
    assert "extend" in capsys.readouterr().err
