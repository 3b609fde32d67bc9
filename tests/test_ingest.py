"""core.ingest: synthesised deliveries (lossless patch clips, ACES EXR sequences and their zip)
become EXR frames in the working space, checked against colour-science and read back with
OpenImageIO and the OpenEXR package's own reader."""
from __future__ import annotations

import hashlib
import warnings
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from genplate.core.ingest.convert import ingest
from genplate.core.ingest.options import IngestError, IngestOptions
from genplate.core.progress import Cancelled, CancelToken
from genplate.ocio import ConfigError
from genplate.ocio import config as C
from genplate.ocio import processors as P

from test_ingest_media import (AP0, FakeStaging, aces_frames, make_clip, patch_means, patch_rgb,
                               read_exr, write_exr_sequence, zip_files)

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    import colour

CS = colour.RGB_COLOURSPACES
ACES13 = "ocio://studio-config-v2.1.0_aces-v1.3_ocio-v2.3"
ROWS, COLS = 4, 6


def _to_acescg(linear, source):
    return colour.RGB_to_RGB(linear, CS[source], CS["ACEScg"],
                             chromatic_adaptation_transform="Bradford")


def _from_acescg(acescg, target):
    return colour.RGB_to_RGB(acescg, CS["ACEScg"], CS[target],
                             chromatic_adaptation_transform="Bradford")


def _ingest(tmp_path, paths, name="out", **options):
    staging = FakeStaging(tmp_path / name)
    result = ingest([Path(p) for p in paths], staging, IngestOptions(**options),
                    header={"genplate:shot": "sh010", "genplate:prompt": "a lighthouse at dusk"})
    return staging, result


def _first_patches(staging, result):
    pixels, attrs = read_exr(staging.frame_path(result.first))
    return patch_means(pixels, ROWS, COLS), attrs


def _half_close(actual, expected, rel=2e-3, floor=2e-4):
    """Equal within half-float precision (10-bit mantissa: 2^-11 relative, rounded twice)."""
    return np.abs(actual - expected) <= rel * np.abs(expected) + floor


# -- SDR video ------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def media(tmp_path_factory):
    folder = tmp_path_factory.mktemp("media")
    return {kind: make_clip(folder / f"{kind}.mp4", kind)
            for kind in ("sdr", "sdr-full", "untagged", "pq", "hlg")}


def test_sdr_texture_matches_bt1886_and_keeps_super_whites(tmp_path, media):
    clip = media["sdr"]
    staging, result = _ingest(tmp_path, [clip.path], sdr_mode="texture")
    means, attrs = _first_patches(staging, result)
    linear = np.sign(clip.rgb) * np.abs(clip.rgb) ** 2.4  # BT.1886 with a zero black level
    ref = _to_acescg(colour.models.eotf_BT1886(np.clip(clip.rgb, 0, None), L_B=0, L_W=1),
                     "ITU-R BT.709")
    positive = (clip.rgb >= 0).all(axis=-1)
    assert _half_close(means, ref)[positive].all()
    # the super-white patch (Y 254) comes out above 1.0: nothing clamped
    assert means[2, 0] == pytest.approx(_to_acescg(linear[2, 0], "ITU-R BT.709"), rel=2e-3)
    assert means[2, 0].min() > 1.2
    assert result.source_kind == "sdr-rec709" and result.assumed == []
    assert attrs["genplate:input_transform"] == ("texture: BT.1886 (2.4 power, mirrored below "
                                                 "black) in Linear Rec.709 (sRGB) -> ACEScg")


def test_sdr_display_match_is_the_inverse_view(tmp_path, media):
    clip = media["sdr"]
    staging, result = _ingest(tmp_path, [clip.path])
    means, attrs = _first_patches(staging, result)
    # the grey ladder (row 0): 0 .. display white -> 0 .. 128 (color.md §1.3)
    assert means[0, 0, 1] == pytest.approx(0.0, abs=1e-3)
    assert means[0, -1, 1] == pytest.approx(128.0, rel=0.01)
    # through the forward view every patch lands back on the code it was given
    import PyOpenColorIO as ocio

    info = C.load_config(result.config.uri)
    t = result.transform
    forward = info.config.getProcessor(ocio.DisplayViewTransform(
        src="ACEScg", display=t.display, view=t.view)).getDefaultCPUProcessor()
    back = np.ascontiguousarray(means.reshape(-1, 3), np.float32)
    forward.applyRGB(back)
    inside = ((clip.rgb >= 0) & (clip.rgb <= 1)).all(axis=-1).reshape(-1)
    assert np.abs(back - clip.rgb.reshape(-1, 3))[inside].max() < 1.0 / 255
    record = result.colour_record()
    assert record["sdr_mode"] == "display-match" and record["mode"] == "display-match"
    assert record["view"] == "ACES 2.0 - SDR 100 nits (Rec.709)"
    assert attrs["genplate:sdr_mode"] == "display-match"


def test_full_range_is_decoded_as_full_range(tmp_path, media):
    clip = media["sdr-full"]
    assert clip.full
    staging, result = _ingest(tmp_path, [clip.path], sdr_mode="texture")
    means, _ = _first_patches(staging, result)
    ref = _to_acescg(colour.models.eotf_BT1886(np.clip(clip.rgb, 0, None), L_B=0, L_W=1),
                     "ITU-R BT.709")
    # (patches with a slightly negative R'G'B' component are left out: OCIO continues the
    # gamma linearly below 0 where the reference clips)
    assert _half_close(means, ref)[(clip.rgb >= 0).all(axis=-1)].all()
    assert result.colour_record()["source"]["decode"]["range"] == "full"


def test_untagged_is_reported_and_decoded_as_bt709_not_bt601(tmp_path, media):
    tagged, _ = _ingest(tmp_path, [media["sdr"].path], "tagged", sdr_mode="texture")
    untagged, result = _ingest(tmp_path, [media["untagged"].path], "untagged", sdr_mode="texture")
    a, _ = read_exr(tagged.frame_path(1001))
    b, attrs = read_exr(untagged.frame_path(1001))
    assert np.array_equal(a, b)  # swscale would have used BT.601 here (color.md §2.2)
    assumed = result.colour_record()["assumed"]
    assert any(s.startswith("matrix:") for s in assumed)
    assert any(s.startswith("range:") for s in assumed)
    assert any(s.startswith("transfer:") for s in assumed)
    assert "matrix" in attrs["genplate:assumed"]


def test_the_user_overrides_what_an_untagged_file_is(tmp_path, media):
    staging, result = _ingest(tmp_path, [media["untagged"].path], sdr_mode="texture",
                              source_tags="bt601 limited bt1886")
    tagged, _ = _ingest(tmp_path, [media["sdr"].path], "tagged", sdr_mode="texture")
    a, _ = read_exr(staging.frame_path(1001))
    b, _ = read_exr(tagged.frame_path(1001))
    assert not np.array_equal(a, b)
    assert result.colour_record()["source"]["decode"]["matrix"] == "bt601"
    assert any("overridden" in s for s in result.assumed)
    with pytest.raises(IngestError, match="unknown colour tag"):
        _ingest(tmp_path, [media["untagged"].path], "bad", source_tags="bt709 cinegamma")


# -- HDR video ------------------------------------------------------------------------------------

def _pq_codes_of(acescg):
    rec2020 = np.clip(_from_acescg(acescg, "ITU-R BT.2020"), 0, None)
    return colour.models.eotf_inverse_ST2084(rec2020 * 100.0)


def test_pq_decodes_within_one_10bit_code_of_st2084(tmp_path, media):
    clip = media["pq"]
    # float frames: the decode is judged, not half's rounding of a saturated blue's 97.0 that
    # the way back to PQ turns into a visible code on its tiny green
    staging, result = _ingest(tmp_path, [clip.path], hdr_mode="texture", pixel_type="float")
    means, attrs = _first_patches(staging, result)
    assert result.source_kind == "hdr-pq" and attrs["genplate:source_kind"] == "hdr-pq"
    ok = (clip.rgb >= 0).all(axis=-1)
    # one 10-bit limited-range code is 1/876 of the signal range
    assert np.abs(_pq_codes_of(means) - clip.rgb)[ok].max() < 1.0 / 876
    ref = _to_acescg(colour.models.eotf_ST2084(clip.rgb[ok]) / 100.0, "ITU-R BT.2020")
    assert np.allclose(means[ok], ref, rtol=0.01, atol=1e-3)
    assert means.max() > 90.0  # 10 000 nits is 100.0: far above 1.0, kept


def test_hlg_decodes_within_one_10bit_code_of_bt2100(tmp_path, media):
    clip = media["hlg"]
    staging, result = _ingest(tmp_path, [clip.path], hdr_mode="texture", pixel_type="float")
    means, _ = _first_patches(staging, result)
    ok = (clip.rgb >= 0).all(axis=-1)
    rec2020 = np.clip(_from_acescg(means, "ITU-R BT.2020"), 0, None) * 100.0
    with np.errstate(divide="ignore", invalid="ignore"):  # colour-science at exact black
        codes = colour.models.eotf_inverse_BT2100_HLG(rec2020)
    assert np.abs(codes - clip.rgb)[ok].max() < 1.0 / 876
    assert result.source_kind == "hdr-hlg"


def test_pq_display_match_cached_is_exact_and_exceeds_one(tmp_path, media):
    clip = media["pq"]
    cached, result = _ingest(tmp_path, [clip.path], "cached")
    exact, plain = _ingest(tmp_path, [clip.path], "exact", exact_table=False)
    # the patches reach 10 000 nits: the largest view, and a warning that it clips above 4000
    assert result.transform.view == "ACES 2.0 - HDR 4000 nits (Rec.2020)"
    assert any("above the 4000-nit view" in w for w in result.warnings)
    assert result.colour_record()["source"]["processing"].endswith("cache of recent triples")
    for frame in (1001, 1003):
        a, _ = read_exr(cached.frame_path(frame))
        b, _ = read_exr(exact.frame_path(frame))
        assert np.array_equal(a, b)
    means, _ = _first_patches(cached, result)
    assert means.max() > 100.0


# -- EXR deliveries ---------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def exr_delivery(tmp_path_factory):
    folder = tmp_path_factory.mktemp("exr")
    frames = aces_frames()
    paths = write_exr_sequence(folder / "seq", frames, compression="zip")
    return frames, paths, zip_files(folder / "delivery.zip", paths)


def test_aces2065_exr_becomes_acescg_within_half_precision(tmp_path, exr_delivery):
    frames, paths, _ = exr_delivery
    staging, result = _ingest(tmp_path, list(reversed(paths)))  # order comes from frame numbers
    assert (result.first, result.last, result.count) == (1001, 1004, 4)
    assert result.source_kind == "exr" and result.transform.src_space == "ACES2065-1"
    for i, source in enumerate(frames):
        pixels, attrs = read_exr(staging.frame_path(1001 + i))
        ref = colour.RGB_to_RGB(source.astype(np.float64), CS["ACES2065-1"], CS["ACEScg"],
                                chromatic_adaptation_transform=None)
        assert _half_close(pixels, ref, rel=1.5e-3, floor=1e-4).all()
    assert pixels.max() > 50.0  # highlights far above 1.0 survive
    assert attrs["genplate:input_transform"] == "convert: ACES2065-1 -> ACEScg"


def test_exr_zip_is_extracted_and_preferred_over_the_video(tmp_path, exr_delivery, media):
    frames, paths, archive = exr_delivery
    staging, result = _ingest(tmp_path, [media["sdr"].path, archive])
    assert result.delivery == "exr" and result.count == len(frames)
    record = result.sources_record()
    used = {Path(s["path"]).name: s["used"] for s in record}
    assert used["sdr.mp4"] is False and used["delivery.zip"] is True
    [zipped] = [s for s in record if s["kind"] == "zip"]
    assert zipped["sha256"] == hashlib.sha256(archive.read_bytes()).hexdigest()
    assert all(s["archive"] == str(archive) for s in record if s["kind"] == "exr")
    # the scratch extraction is gone, only frames and the thumbnail are in staging
    names = sorted(p.name for p in staging.dir.iterdir())
    assert names == [f"shot_v001.{1001 + i:04d}.exr" for i in range(4)] + ["thumbnail.png"]
    assert not any(p.name.startswith(".genplate-unzip") for p in tmp_path.iterdir())


def test_passthrough_keeps_pixels_bit_identical(tmp_path, exr_delivery):
    frames, paths, _ = exr_delivery
    staging, result = _ingest(tmp_path, paths, working_space="ACES2065-1")
    assert result.transform.mode == "passthrough"
    pixels, attrs = read_exr(staging.frame_path(1002))
    assert np.array_equal(pixels.astype(np.float16), frames[1])
    assert np.allclose(attrs["chromaticities"], AP0, atol=1e-6)
    assert attrs["colorInteropID"] == "lin_ap0_scene"


def test_exr_with_alpha_and_without_chromaticities(tmp_path):
    frames = aces_frames(frames=2)
    paths = write_exr_sequence(tmp_path / "seq", frames, chromaticities=None, fps=None,
                               channels=("R", "G", "B", "A"), compression="piz")
    staging, result = _ingest(tmp_path, paths)
    assert result.count == 2
    assert any("no chromaticities" in s for s in result.assumed)
    assert any(s.startswith("fps:") for s in result.assumed)
    pixels, attrs = read_exr(staging.frame_path(1001))
    assert attrs["_channels"] == ("R", "G", "B")


def test_exr_of_unknown_primaries_is_refused(tmp_path):
    paths = write_exr_sequence(tmp_path / "seq", aces_frames(frames=1),
                               chromaticities=(0.6, 0.3, 0.3, 0.6, 0.2, 0.1, 0.3, 0.3))
    with pytest.raises(IngestError, match="chromaticities"):
        _ingest(tmp_path, paths)


@pytest.mark.parametrize("uri", ["ocio://studio-config-v5.0.0_aces-v2.1_ocio-v2.6", ACES13])
def test_aces13_and_aces2_configs_give_the_same_acescg(tmp_path, exr_delivery, media, uri):
    frames, paths, _ = exr_delivery
    staging, result = _ingest(tmp_path, paths[:1], "exr", config=uri)
    pixels, _ = read_exr(staging.frame_path(1001))
    ref = colour.RGB_to_RGB(frames[0].astype(np.float64), CS["ACES2065-1"], CS["ACEScg"],
                            chromatic_adaptation_transform=None)
    assert _half_close(pixels, ref, rel=1.5e-3, floor=1e-4).all()
    clip = media["sdr"]
    staging, result = _ingest(tmp_path, [clip.path], "sdr", config=uri, sdr_mode="texture")
    means, _ = _first_patches(staging, result)
    ref = _to_acescg(colour.models.eotf_BT1886(np.clip(clip.rgb, 0, None), L_B=0, L_W=1),
                     "ITU-R BT.709")
    assert _half_close(means, ref)[(clip.rgb >= 0).all(axis=-1)].all()
    assert result.working_space == "ACEScg"
    assert result.colour_record()["config"] == uri.split("//")[1]


# -- frames, headers, records -----------------------------------------------------------------------

def test_frames_and_headers_read_back_with_oiio_and_openexr(tmp_path, media):
    import OpenEXR

    clip = media["sdr"]
    staging, result = _ingest(tmp_path, [clip.path], first_frame=1001)
    assert sorted(p.name for p in staging.dir.iterdir()) == [
        "shot_v001.1001.exr", "shot_v001.1002.exr", "shot_v001.1003.exr", "thumbnail.png"]
    _, attrs = read_exr(staging.frame_path(1001))
    assert attrs["_format"] == "half" and attrs["_tiled"] is False
    assert attrs["_channels"] == ("R", "G", "B")
    assert attrs["FramesPerSecond"] == (24, 1)
    assert attrs["colorInteropID"] == "lin_ap1_scene"
    assert attrs["genplate:prompt"] == "a lighthouse at dusk"
    assert attrs["genplate:working_space"] == "ACEScg"
    assert attrs["genplate:ocio_config"] == "studio-config-v5.0.0_aces-v2.1_ocio-v2.6"

    exr = OpenEXR.File(str(staging.frame_path(1002)))
    header = exr.header()
    assert np.allclose(header["chromaticities"], C.AP1, atol=1e-6)
    assert header["FramesPerSecond"] == Fraction(24, 1)
    tc = header["timeCode"]
    assert (tc.hours, tc.minutes, tc.seconds, tc.frame) == (0, 0, 41, 18)  # frame 1002, 24 fps
    assert str(header["compression"]).endswith("ZIP_COMPRESSION")
    assert str(header["type"]).endswith("scanlineimage")
    for key in ("genplate:shot", "genplate:source_kind", "genplate:sdr_mode",
                "genplate:working_space", "genplate:ocio_config", "genplate:input_transform"):
        assert header[key], key
    rgb = exr.channels()["RGB"].pixels
    assert rgb.dtype == np.float16 and rgb.shape == (clip.height, clip.width, 3)

    frames = result.frames_record()
    assert frames == {"first": 1001, "last": 1003, "count": 3, "fps": 24, "fps_rational": [24, 1],
                      "width": clip.width, "height": clip.height, "timecode": "00:00:41:17"}
    record = result.colour_record()
    for key in ("config", "working_space", "source_kind", "sdr_mode", "input_transform",
                "assumed"):
        assert key in record
    [source] = result.sources_record()
    assert source["sha256"] == hashlib.sha256(clip.path.read_bytes()).hexdigest()
    assert source["kind"] == "mp4" and source["bytes"] == clip.path.stat().st_size


def test_first_frame_and_compression_options(tmp_path, media):
    import OpenEXR

    staging, result = _ingest(tmp_path, [media["sdr"].path], first_frame=1, compression="piz",
                              sdr_mode="texture")
    assert staging.frame_path(1).is_file() and staging.frame_path(3).is_file()
    header = OpenEXR.File(str(staging.frame_path(1))).header()
    tc = header["timeCode"]
    assert (tc.hours, tc.minutes, tc.seconds, tc.frame) == (0, 0, 0, 1)
    assert str(header["compression"]).endswith("PIZ_COMPRESSION")
    assert result.frames_record()["timecode"] == "00:00:00:01"


def test_float_output(tmp_path, media):
    staging, result = _ingest(tmp_path, [media["sdr"].path], pixel_type="float",
                              sdr_mode="texture")
    _, attrs = read_exr(staging.frame_path(1001))
    assert attrs["_format"] == "float"
    assert result.colour_record()["pixel_type"] == "float"


def test_thumbnail_is_the_middle_frame_through_the_default_view(tmp_path):
    import OpenImageIO as oiio

    wide = make_clip(tmp_path / "wide.mp4", "sdr", frames=3,
                     rgb=np.full((4, 24, 3), 0.5))  # 768 px wide
    staging, _ = _ingest(tmp_path, [wide.path])
    thumb = oiio.ImageBuf(str(staging.thumbnail_path))
    spec = thumb.spec()
    assert (spec.width, spec.height, spec.nchannels) == (384, 64, 3)  # 768 x 128 shrunk 2x
    assert str(spec.format) == "uint8"
    # display-match then the default view: the grey comes back as (about) the grey it was
    pixels = thumb.get_pixels(oiio.FLOAT)
    assert 0.45 < float(np.median(pixels)) < 0.6


@pytest.mark.parametrize("delivery", ["video", "exr zip"])
def test_thumbnail_made_in_memory_is_the_one_read_back_from_the_middle_frame(
        tmp_path, delivery, exr_delivery):
    """The worker converting the middle frame makes the thumbnail from its pixels; it must be
    the very PNG that reading the written frame back gives."""
    import OpenImageIO as oiio
    from genplate.core.ingest import exr as X

    if delivery == "video":
        path = make_clip(tmp_path / "wide.mp4", "sdr", frames=5,
                         rgb=patch_rgb(4, 24, seed=5, top=0.95)).path
    else:
        path = exr_delivery[2]
    staging, result = _ingest(tmp_path, [path], thumbnail_width=40)
    middle = staging.frame_path(result.first + result.count // 2)
    again = tmp_path / "again.png"
    X.write_thumbnail(middle, again, P.display_processor(result.config, result.working_space), 40)

    def pixels(png):
        return oiio.ImageBuf(str(png)).get_pixels(oiio.UINT8)

    made, expected = pixels(staging.thumbnail_path), pixels(again)
    assert made.shape == expected.shape and made.shape[1] <= 40
    assert np.array_equal(made, expected)
    assert len(np.unique(made.reshape(-1, 3), axis=0)) > 4  # a picture, not a flat grey


def test_processors_are_reused_between_clips(tmp_path, media):
    _ingest(tmp_path, [media["sdr"].path], "a", sdr_mode="texture")
    builds = P.PROCESSORS.builds
    _ingest(tmp_path, [media["untagged"].path], "b", sdr_mode="texture")
    assert P.PROCESSORS.builds == builds


# -- refusals, cancel --------------------------------------------------------------------------------

def test_bad_options_are_refused_before_any_frame(tmp_path, media):
    staging = FakeStaging(tmp_path / "s")
    for options, match in ((IngestOptions(compression="zip9"), "compression"),
                           (IngestOptions(sdr_mode="filmic"), "sdr_mode"),
                           (IngestOptions(pixel_type="uint8"), "pixel_type")):
        with pytest.raises(IngestError, match=match):
            ingest([media["sdr"].path], staging, options, header={})
    with pytest.raises(IngestError, match="longer than 31"):
        ingest([media["sdr"].path], staging, IngestOptions(),
               header={"genplate:a_very_long_attribute_name": "x"})
    with pytest.raises(ConfigError, match="not a colour space"):
        ingest([media["sdr"].path], staging, IngestOptions(working_space="Filmic Log"), header={})
    assert list(staging.dir.iterdir()) == []


def test_nothing_usable_is_a_clear_error(tmp_path):
    png = tmp_path / "frame.png"
    png.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 32)
    with pytest.raises(IngestError, match="no video or EXR"):
        _ingest(tmp_path, [png])
    with pytest.raises(IngestError, match="no such file"):
        _ingest(tmp_path, [tmp_path / "missing.mp4"])


def test_cancel_stops_at_the_next_frame_and_leaves_no_partial_files(tmp_path):
    clip = make_clip(tmp_path / "long.mp4", "sdr", frames=24)
    token = CancelToken()
    seen = []

    def progress(done, total, message):
        seen.append(done)
        token.cancel()

    staging = FakeStaging(tmp_path / "s")
    with pytest.raises(Cancelled):
        ingest([clip.path], staging, IngestOptions(sdr_mode="texture", workers=1), header={},
               progress=progress, cancel=token)
    written = list(staging.dir.iterdir())
    assert 1 <= len(written) < 24
    assert not any(p.name.startswith(".") for p in written)


def test_display_match_memo_table_gives_the_exact_frames(tmp_path, media):
    table, result = _ingest(tmp_path, [media["sdr"].path], "table")
    exact, plain = _ingest(tmp_path, [media["sdr"].path], "exact", exact_table=False)
    assert result.colour_record()["source"]["processing"].startswith("exact memo table")
    assert plain.colour_record()["source"]["processing"] == "exact processor"
    for mode in ("texture",):
        tabled, _ = _ingest(tmp_path, [media["sdr"].path], f"t-{mode}", sdr_mode=mode)
        direct, _ = _ingest(tmp_path, [media["sdr"].path], f"d-{mode}", sdr_mode=mode,
                            exact_table=False)
        a, _ = read_exr(tabled.frame_path(1002))
        b, _ = read_exr(direct.frame_path(1002))
        assert np.array_equal(a, b)
    for frame in (1001, 1003):
        a, _ = read_exr(table.frame_path(frame))
        b, _ = read_exr(exact.frame_path(frame))
        assert np.array_equal(a, b)


def test_a_damaged_video_is_an_ingest_error(tmp_path):
    clip = make_clip(tmp_path / "c.mp4", "sdr", frames=12)
    data = bytearray(clip.path.read_bytes())
    mdat, moov = data.find(b"mdat"), data.find(b"moov")
    assert 0 < mdat < moov
    half = mdat + (moov - mdat) // 2
    data[half:moov - 8] = bytes(moov - 8 - half)  # later frames zeroed, the index kept
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(bytes(data))
    staging = FakeStaging(tmp_path / "s")
    with pytest.raises(IngestError, match="broken.mp4: frame .* cannot be decoded"):
        ingest([broken], staging, IngestOptions(sdr_mode="texture"), header={})
    assert not any(p.name.startswith(".") for p in staging.dir.iterdir())


def test_a_stray_exr_beside_the_sequence_is_not_a_frame(tmp_path, exr_delivery):
    frames, paths, _ = exr_delivery
    poster = write_exr_sequence(tmp_path / "poster", aces_frames(frames=1), name="first_frame")[0]
    still = tmp_path / "first_frame.exr"
    poster.rename(still)
    staging, result = _ingest(tmp_path, [still, *paths])
    assert result.count == len(frames)
    used = {Path(s["path"]).name: s["used"] for s in result.sources_record()}
    assert used["first_frame.exr"] is False


def test_hdr10_metadata_picks_the_view_that_holds_the_peak(tmp_path):
    from test_ingest_media import TAGS, codes_for, encode, patch_rgb, planes_for

    codes = codes_for(patch_rgb(), "bt2020nc", False, 10)
    path = encode(tmp_path / "hdr10.mp4", planes_for(codes), frames=2, pix_fmt="yuv420p10le",
                  codec="libx265", tags=TAGS["pq"], options={"x265-params": (
                      "lossless=1:log-level=none:hdr10=1:max-cll=3000,400:master-display="
                      "G(13250,34500)B(7500,3000)R(34000,16000)WP(15635,16450)L(40000000,50)")})
    staging, result = _ingest(tmp_path, [path])
    assert result.transform.view == "ACES 2.0 - HDR 4000 nits (Rec.2020)"
    meta = result.colour_record()["source"]["hdr_metadata"]
    assert meta["max_cll"] == 3000 and meta["mastering_max_nits"] == 4000
    _, forced = _ingest(tmp_path, [path], "forced", peak_nits=1000)
    assert forced.transform.view == "ACES 2.0 - HDR 1000 nits (Rec.2020)"


def test_hdr_without_metadata_says_the_1000_nit_view_was_assumed(tmp_path, media):
    _, result = _ingest(tmp_path, [media["pq"].path])
    assert any(s.startswith("HDR peak") for s in result.assumed)


def test_display_match_in_an_aces13_config(tmp_path, media):
    staging, result = _ingest(tmp_path, [media["sdr"].path], config=ACES13)
    means, attrs = _first_patches(staging, result)
    assert result.transform.view == "ACES 1.0 - SDR Video"
    assert means[0, -1, 1] == pytest.approx(16.3, rel=0.03)  # display white, color.md §1.3
    assert attrs["genplate:ocio_config"] == "studio-config-v2.1.0_aces-v1.3_ocio-v2.3"
    assert attrs["colorInteropID"] == "lin_ap1_scene"  # the 1.3 config has no interop IDs
