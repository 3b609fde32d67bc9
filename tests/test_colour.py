"""genplate.ocio: config resolution, roles, chromaticities, the Y'CbCr matrix, the source-kind
table and the processor cache, checked against colour-science and color.md's measured values."""
from __future__ import annotations

import threading
import warnings

import numpy as np
import PyOpenColorIO as ocio
import pytest

from genplate.ocio import BUILTIN_CONFIG, ColourError, ConfigError
from genplate.ocio import config as C
from genplate.ocio import processors as P
from genplate.ocio import sources as S
from genplate.ocio.ycbcr import YCbCrCoding, matrix_transform

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    import colour

ACES2 = BUILTIN_CONFIG
ACES13 = "ocio://studio-config-v2.1.0_aces-v1.3_ocio-v2.3"
CG13 = "ocio://cg-config-v2.1.0_aces-v1.3_ocio-v2.3"
CS = colour.RGB_COLOURSPACES


def _to_acescg(linear, source):
    """colour-science's conversion, with the Bradford CAT the ACES configs use for D65->D60."""
    return colour.RGB_to_RGB(linear, CS[source], CS["ACEScg"],
                             chromatic_adaptation_transform="Bradford")


def _apply(cpu, rgb) -> np.ndarray:
    pixels = np.ascontiguousarray(np.asarray(rgb, np.float32).reshape(-1, 3))
    cpu.applyRGB(pixels)
    return pixels.reshape(np.shape(rgb)).astype(np.float64)


def _float_cpu(info, transform: ocio.Transform):
    return info.config.getProcessor(transform).getDefaultCPUProcessor()


def _grey(values) -> np.ndarray:
    return np.repeat(np.asarray(values, np.float64)[:, None], 3, axis=1)


# -- config resolution --------------------------------------------------------------------------

@pytest.fixture
def config_files(tmp_path):
    """Three distinct config files (ACES 1.3 studio, ACES 1.3 CG, ACES 2 studio) on disk."""
    out = {}
    for label, uri in (("a", ACES13), ("b", CG13), ("c", ACES2)):
        path = tmp_path / f"{label}.ocio"
        path.write_text(ocio.Config.CreateFromFile(uri).serialize())
        out[label] = str(path)
    return out


def test_builtin_config_is_pinned_and_loads():
    assert "latest" not in BUILTIN_CONFIG
    info = C.resolve_config(environ={})
    assert info.origin == "built-in"
    assert info.name == "studio-config-v5.0.0_aces-v2.1_ocio-v2.6"
    assert info.cache_id


def test_precedence_explicit_then_env_then_host_then_builtin(config_files):
    a, b, c = config_files["a"], config_files["b"], config_files["c"]
    env = {"OCIO": b, C.HOST_CONFIG_ENV: c}
    assert C.resolve_config(a, environ=env).uri.endswith("a.ocio")
    assert C.resolve_config(a, environ=env).origin == "explicit"
    assert C.resolve_config(None, environ=env).uri.endswith("b.ocio")
    assert C.resolve_config(None, environ=env).origin == "$OCIO"
    assert C.resolve_config(None, environ={C.HOST_CONFIG_ENV: c}).uri.endswith("c.ocio")
    host = C.resolve_config(None, host_config=a, environ={})
    assert host.origin == "host" and host.uri.endswith("a.ocio")
    assert C.resolve_config(None, environ={}).origin == "built-in"


def test_ocio_environment_variable_is_used(config_files, monkeypatch):
    monkeypatch.setenv("OCIO", config_files["a"])
    assert C.resolve_config().origin == "$OCIO"


def test_unpinned_and_missing_configs_are_refused_with_the_fix(tmp_path):
    with pytest.raises(ConfigError, match="not pinned"):
        C.load_config("ocio://studio-config-latest")
    with pytest.raises(ConfigError, match="does not exist") as err:
        C.load_config(str(tmp_path / "nope.ocio"))
    assert "nope.ocio" in str(err.value)
    broken = tmp_path / "broken.ocio"
    broken.write_text("ocio_profile_version: 2\nroles: [oops\n")
    with pytest.raises(ConfigError, match="cannot be loaded"):
        C.load_config(str(broken))


def test_a_config_loads_once_per_process():
    assert C.load_config(ACES13).config is C.load_config(ACES13).config


# -- roles, names, chromaticities ---------------------------------------------------------------

@pytest.mark.parametrize("uri", [ACES2, ACES13, CG13])
def test_working_space_is_the_scene_linear_role(uri):
    cfg = C.load_config(uri).config
    assert C.working_space(cfg) == "ACEScg"
    assert C.working_space(cfg, "aces_interchange") == "ACES2065-1"  # a role
    assert C.working_space(cfg, "lin_ap0") == "ACES2065-1"  # an alias
    assert C.interchange_space(cfg) == "ACES2065-1"
    assert C.log_space(cfg) == "ACEScct"  # color_timing role
    with pytest.raises(ConfigError, match="not a colour space"):
        C.working_space(cfg, "NotASpace")


def test_a_renamed_scene_linear_role_is_followed():
    cfg = ocio.Config.CreateFromFile(ACES2)
    cfg.setRole("scene_linear", "Linear Rec.2020")
    assert C.working_space(cfg) == "Linear Rec.2020"
    assert C.chromaticities(cfg, "Linear Rec.2020") == C.REC2020


@pytest.mark.parametrize("uri", [ACES2, ACES13])
def test_chromaticities_of_aces_spaces(uri):
    cfg = C.load_config(uri).config
    assert C.chromaticities(cfg, "ACEScg") == C.AP1
    assert C.chromaticities(cfg, "ACES2065-1") == C.AP0
    assert C.chromaticities(cfg, "ACEScct") == C.AP1
    assert C.interop_id(cfg, "ACEScg") == "lin_ap1_scene"
    assert C.interop_id(cfg, "ACES2065-1") == "lin_ap0_scene"
    # the ACES table matches colour-science's definition of the primaries
    ap1 = CS["ACEScg"]
    assert np.allclose(C.AP1[:6], np.ravel(ap1.primaries), atol=1e-4)
    assert np.allclose(C.AP1[6:], ap1.whitepoint, atol=1e-4)
    assert np.allclose(C.AP0[:6], np.ravel(CS["ACES2065-1"].primaries), atol=1e-4)


def test_chromaticities_of_an_unnamed_linear_space_are_measured():
    cfg = ocio.Config.CreateFromFile(ACES2)
    space = ocio.ColorSpace(name="studio plate linear")
    space.setTransform(ocio.ColorSpaceTransform("ACEScg", "ACES2065-1"),
                       ocio.COLORSPACE_DIR_TO_REFERENCE)
    cfg.addColorSpace(space)
    measured = C.chromaticities(cfg, "studio plate linear")
    assert measured is not None
    assert np.allclose(measured, C.AP1, atol=2e-4)
    # a non-linear space has no measurable primaries
    assert C.chromaticities(cfg, "sRGB Encoded Rec.709 (sRGB)") is None or \
        C.primaries_name(C.chromaticities(cfg, "sRGB Encoded Rec.709 (sRGB)")) is None


def test_primaries_name_reads_exr_chromaticities():
    assert C.primaries_name(C.AP0) == "AP0"
    assert C.primaries_name(tuple(np.float32(v) for v in C.AP1)) == "AP1"
    assert C.primaries_name(C.REC709) == "Rec.709"
    assert C.primaries_name((0.5,) * 8) is None
    assert C.primaries_name(None) is None
    cfg = C.load_config(ACES2).config
    assert C.linear_space_for_primaries(cfg, "AP0") == "ACES2065-1"
    assert C.linear_space_for_primaries(cfg, "AP1") == "ACEScg"
    assert C.linear_space_for_primaries(cfg, "Rec.709") == "Linear Rec.709 (sRGB)"


# -- the Y'CbCr matrix ----------------------------------------------------------------------------

@pytest.mark.parametrize("matrix,weights", [("bt709", "ITU-R BT.709"), ("bt2020nc", "ITU-R BT.2020"),
                                            ("bt601", "ITU-R BT.601")])
@pytest.mark.parametrize("full", [False, True])
@pytest.mark.parametrize("code_bits,plane_bits", [(8, 8), (10, 16), (12, 16)])
def test_ycbcr_matrix_matches_colour_science(matrix, weights, full, code_bits, plane_bits):
    rng = np.random.default_rng(1)
    top = 2 ** code_bits - 1
    codes = rng.integers(0, top + 1, size=(2000, 3))
    codes[0] = (2 ** (code_bits - 8) * 254, 2 ** (code_bits - 1), 2 ** (code_bits - 1))
    expected = colour.YCbCr_to_RGB(codes, K=colour.WEIGHTS_YCBCR[weights], in_bits=code_bits,
                                   in_legal=not full, in_int=True, out_legal=False, out_int=False)
    planes = codes << (plane_bits - code_bits)  # how swscale hands deeper codes over
    dtype = np.uint8 if plane_bits == 8 else np.uint16
    y, cb, cr = (np.ascontiguousarray(planes[:, i].astype(dtype)).reshape(1, -1) for i in range(3))
    coding = YCbCrCoding(matrix, full, code_bits, plane_bits)
    depth = ocio.BIT_DEPTH_UINT8 if plane_bits == 8 else ocio.BIT_DEPTH_UINT16
    cfg = C.load_config(ACES2).config
    cpu = cfg.getProcessor(matrix_transform(coding)).getOptimizedCPUProcessor(
        depth, ocio.BIT_DEPTH_F32, ocio.OPTIMIZATION_DEFAULT)
    out = np.zeros((1, codes.shape[0], 3), np.float32)
    itemsize = np.dtype(dtype).itemsize
    cpu.apply(ocio.PlanarImageDesc(y, cb, cr, codes.shape[0], 1, depth, itemsize,
                                   itemsize * codes.shape[0]),
              ocio.PackedImageDesc(out, codes.shape[0], 1, 3, ocio.BIT_DEPTH_F32, 4, 12,
                                   12 * codes.shape[0]))
    assert np.abs(out[0] - expected).max() < 2e-5
    if not full:
        assert out[0, 0, 0] == pytest.approx(1.0868, abs=1e-3)  # super-white is not clipped


def test_unknown_matrix_is_a_colour_error():
    with pytest.raises(ColourError, match="unknown Y'CbCr matrix"):
        matrix_transform(YCbCrCoding("bt2020c", False, 10, 16))


# -- the source-kind table ------------------------------------------------------------------------

def test_table_names_in_aces2_and_aces13():
    cfg2 = C.load_config(ACES2).config
    t = S.input_transform(cfg2, S.SDR_REC709, S.DISPLAY_MATCH, "ACEScg")
    assert (t.display, t.view) == ("Rec.1886 Rec.709 - Display", "ACES 2.0 - SDR 100 nits (Rec.709)")
    texture = S.input_transform(cfg2, S.SDR_REC709, S.TEXTURE, "ACEScg")
    assert (texture.src_space, texture.gamma) == ("Linear Rec.709 (sRGB)", 2.4)  # BT.1886, built
    assert S.input_transform(cfg2, S.SDR_SRGB, S.TEXTURE, "ACEScg").src_space == \
        "sRGB Encoded Rec.709 (sRGB)"
    assert S.input_transform(cfg2, S.HDR_PQ, S.DISPLAY_MATCH, "ACEScg").view == \
        "ACES 2.0 - HDR 1000 nits (Rec.2020)"
    assert S.input_transform(cfg2, S.HDR_PQ, S.DISPLAY_MATCH, "ACEScg", peak_nits=4000).view == \
        "ACES 2.0 - HDR 4000 nits (Rec.2020)"
    hlg = S.input_transform(cfg2, S.HDR_HLG, S.DISPLAY_MATCH, "ACEScg")
    assert (hlg.display, hlg.view) == ("Rec.2100-PQ - Display",
                                       "ACES 2.0 - HDR 1000 nits (Rec.2020)")
    assert hlg.via == ("Rec.2100-HLG - Display", "Rec.2100-PQ - Display") and hlg.route
    cfg13 = C.load_config(ACES13).config
    assert S.input_transform(cfg13, S.SDR_REC709, S.DISPLAY_MATCH, "ACEScg").view == \
        "ACES 1.0 - SDR Video"
    assert S.input_transform(cfg13, S.HDR_PQ, S.DISPLAY_MATCH, "ACEScg").view == \
        "ACES 1.1 - HDR Video (1000 nits & Rec.2020 lim)"
    exr = S.input_transform(cfg2, S.EXR, S.DISPLAY_MATCH, "ACEScg", src_space="lin_ap0")
    assert (exr.mode, exr.src_space) == (S.CONVERT, "ACES2065-1")
    assert S.input_transform(cfg2, S.EXR, "", "ACEScg", src_space="ACEScg").mode == S.PASSTHROUGH


def test_missing_display_names_the_way_out():
    cfg = C.load_config(CG13).config  # the ACES 1.3 CG config has no HLG display
    with pytest.raises(ConfigError, match="texture mode or another config"):
        S.input_transform(cfg, S.HDR_HLG, S.DISPLAY_MATCH, "ACEScg")
    with pytest.raises(ColourError, match="unknown mode"):
        S.input_transform(cfg, S.SDR_REC709, "filmic", "ACEScg")


# color.md §1.3 (ACES 2.0, ACEScg grey) and the 8-bit full-range steep top.
DISPLAY_MATCH_LADDER = [(0.10, 0.023), (0.18, 0.051), (0.383, 0.180), (0.50, 0.325), (0.75, 1.175),
                        (0.90, 3.77), (0.95, 7.90), (1.00, 128.0)]
EIGHT_BIT_TOP = [(240, 6.7), (245, 10.1), (250, 19.1), (252, 29.2), (253, 39.5), (254, 60.6),
                 (255, 128.0)]


def test_display_match_grey_ladder_matches_the_measured_table():
    info = C.load_config(ACES2)
    t = S.input_transform(info.config, S.SDR_REC709, S.DISPLAY_MATCH, "ACEScg")
    codes, expected = zip(*DISPLAY_MATCH_LADDER)
    out = _apply(_float_cpu(info, t.transform()), _grey(codes))
    assert np.allclose(out[:, 1], expected, rtol=0.02, atol=0.002)


def test_display_match_8bit_top_codes_through_the_fused_processor():
    info = C.load_config(ACES2)
    t = S.input_transform(info.config, S.SDR_REC709, S.DISPLAY_MATCH, "ACEScg")
    cpu = P.video_processor(info, t, YCbCrCoding("bt709", True, 8, 8), out_depth=P.F32)
    codes, expected = zip(*EIGHT_BIT_TOP)
    n = len(codes)
    y = np.array([codes], np.uint8)
    c = np.full((1, n), 128, np.uint8)
    out = np.zeros((1, n, 3), np.float32)
    cpu.apply(ocio.PlanarImageDesc(y, c, c.copy(), n, 1, ocio.BIT_DEPTH_UINT8, 1, n),
              ocio.PackedImageDesc(out, n, 1, 3, ocio.BIT_DEPTH_F32, 4, 12, 12 * n))
    assert np.allclose(out[0, :, 1], expected, rtol=0.02)


def test_aces13_display_white_is_much_lower():
    info = C.load_config(ACES13)
    t = S.input_transform(info.config, S.SDR_REC709, S.DISPLAY_MATCH, "ACEScg")
    white = _apply(_float_cpu(info, t.transform()), _grey([1.0]))
    assert white[0, 1] == pytest.approx(16.3, rel=0.03)  # color.md §1.3


def _round_trip(info, t: S.InputTransform, codes: np.ndarray) -> np.ndarray:
    scene = _apply(_float_cpu(info, t.transform()), codes)
    forward = ocio.DisplayViewTransform(src=t.dst_space, display=t.display, view=t.view)
    return _apply(_float_cpu(info, forward), scene)


def test_sdr_display_match_round_trips_within_one_code():
    info = C.load_config(ACES2)
    t = S.input_transform(info.config, S.SDR_REC709, S.DISPLAY_MATCH, "ACEScg")
    codes = np.random.default_rng(5).uniform(0, 1, size=(20000, 3))
    back = _round_trip(info, t, codes)
    assert np.abs(back - codes).max() < 1 / 255


def test_pq_display_match_round_trips_low_saturation_within_one_10bit_code():
    info = C.load_config(ACES2)
    t = S.input_transform(info.config, S.HDR_PQ, S.DISPLAY_MATCH, "ACEScg")
    rng = np.random.default_rng(9)
    grey = rng.uniform(0.05, 0.75, size=(5000, 1))  # up to 1000 nits
    codes = np.clip(grey + rng.uniform(-0.05, 0.05, size=(5000, 3)), 0, 0.75)
    back = _round_trip(info, t, codes)
    assert np.abs(back - codes).max() < 1 / 1023


@pytest.mark.parametrize("uri", [ACES2, ACES13])
def test_texture_is_the_bt1886_eotf_in_both_aces_generations(uri):
    info = C.load_config(uri)
    t = S.input_transform(info.config, S.SDR_REC709, S.TEXTURE, "ACEScg")
    rgb = np.random.default_rng(2).uniform(0, 1.09, size=(4000, 3))  # super-whites included
    out = _apply(_float_cpu(info, t.transform()), rgb)
    linear = colour.models.eotf_BT1886(rgb, L_B=0, L_W=1)
    ref = _to_acescg(linear, "ITU-R BT.709")
    assert np.abs(out - ref).max() < 1e-4 * max(1.0, np.abs(ref).max())
    assert out.max() > 1.15  # nothing clamped at 1.0


@pytest.mark.parametrize("uri", [ACES2, ACES13])
def test_aces2065_to_acescg_matches_colour_science(uri):
    info = C.load_config(uri)
    t = S.input_transform(info.config, S.EXR, "", "ACEScg", src_space="ACES2065-1")
    rgb = np.random.default_rng(4).lognormal(-1, 2, size=(4000, 3))
    out = _apply(_float_cpu(info, t.transform()), rgb)
    ref = colour.RGB_to_RGB(rgb, CS["ACES2065-1"], CS["ACEScg"], chromatic_adaptation_transform=None)
    assert np.allclose(out, ref, rtol=1e-5, atol=1e-6)


# -- the processor cache --------------------------------------------------------------------------

def test_processors_are_built_once_and_shared_across_threads():
    cache = P.ProcessorCache()
    info = C.load_config(ACES2)
    t = S.input_transform(info.config, S.HDR_PQ, S.DISPLAY_MATCH, "ACEScg")
    coding = YCbCrCoding("bt2020nc", False, 10, 16)
    got = []
    threads = [threading.Thread(target=lambda: got.append(
        P.video_processor(info, t, coding, cache=cache))) for _ in range(6)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert cache.builds == 1 and len({id(g) for g in got}) == 1
    # any part of the key changes the processor
    P.video_processor(info, t, YCbCrCoding("bt2020nc", True, 10, 16), cache=cache)
    P.video_processor(info, t, coding, out_depth=P.F32, cache=cache)
    P.video_processor(C.load_config(ACES13), S.input_transform(
        C.load_config(ACES13).config, S.HDR_PQ, S.DISPLAY_MATCH, "ACEScg"), coding, cache=cache)
    assert cache.builds == 4
    P.video_processor(info, t, coding, cache=cache)
    assert cache.builds == 4


def test_default_display_view_thumbnail_processor():
    info = C.load_config(ACES2)
    cpu = P.display_processor(info, "ACEScg")
    out = _apply(cpu, _grey([0.18, 128.0]))
    # the default view (ACES 2.0 SDR, sRGB display): mid grey lands mid-screen, 128 at white
    assert 0.3 < out[0, 1] < 0.45
    assert out[1, 1] == pytest.approx(1.0, abs=0.01)
