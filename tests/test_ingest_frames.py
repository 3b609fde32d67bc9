"""Delivered frames are checked from their headers before a pixel is read, and a missing, empty
or unreadable frame is never hidden: the take is refused, or with --allow-gaps published with
the gap kept in the numbering and recorded in take.json (issue #14)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from genplate.core.cli.main import main
from genplate.core.delivery.limits import budget_for
from genplate.core.ingest.convert import ingest
from genplate.core.ingest.options import DeliveryDamaged, IngestError, IngestOptions
from genplate.core.request import ShotRequest
from genplate.core.takes import take as takes

from hostile import huge_exr
from test_ingest_media import FakeStaging, aces_frames, make_clip, write_exr_sequence, zip_files

W, H = 96, 64  # aces_frames' size


def sequence(tmp_path, frames=5, **kw) -> list[Path]:
    return write_exr_sequence(tmp_path / "delivery", aces_frames(W, H, frames), name="ray3", **kw)


def run_ingest(tmp_path, paths, budget=None, **options):
    staging = FakeStaging(tmp_path / "out")
    result = ingest([Path(p) for p in paths], staging, IngestOptions(**options), budget=budget)
    return staging, result


def cli(capsys, *argv) -> tuple[int, dict]:
    code = main(list(argv) + ["--json"])
    out = capsys.readouterr().out.strip()
    return code, (json.loads(out.splitlines()[-1]) if out else {})


# -- gaps ----------------------------------------------------------------------------------------

def test_a_zero_byte_frame_in_a_package_refuses_the_take(tmp_path, capsys):
    paths = sequence(tmp_path)
    paths[2].write_bytes(b"")
    archive = zip_files(tmp_path / "package.zip", paths)
    code, out = cli(capsys, "ingest", str(archive), "--root", str(tmp_path / "takes"))
    assert code != 0
    assert "1 missing, empty or unreadable frame(s): frame 2 (ray3.0002.exr: an empty file)" \
        in out["error"] and "--allow-gaps" in out["error"]
    assert not list((tmp_path / "takes").rglob("*.exr"))


def test_with_allow_gaps_the_numbering_keeps_the_gap_and_take_json_records_it(tmp_path, capsys):
    paths = sequence(tmp_path)
    paths[2].write_bytes(b"")
    archive = zip_files(tmp_path / "package.zip", paths)
    code, out = cli(capsys, "ingest", str(archive), "--root", str(tmp_path / "takes"),
                    "--allow-gaps", "--output", "review-sdr")
    assert code == 0, out
    assert (out["first"], out["last"]) == (1001, 1005)
    take = takes.load_take(out["dir"])
    frames = take.record["frames"]
    assert frames["count"] == 5
    assert frames["gaps"] == [{"frame": 1003, "file": "ray3.0002.exr", "why": "an empty file"}]
    present = sorted(int(p.name.split(".")[-2]) for p in take.dir.glob("*.exr"))
    assert present == [1001, 1002, 1004, 1005]  # 1004 is frame 3 still, not renumbered
    assert (take.dir / "thumbnail.png").is_file()  # the middle frame was the gap
    review = take.record["colour"]["outputs"][0]
    assert review["name"] == "review-sdr" and (take.dir / review["path"]).is_file()


def test_a_frame_missing_from_the_numbering_is_a_gap_too(tmp_path):
    paths = sequence(tmp_path)
    paths[3].unlink()
    with pytest.raises(IngestError, match=r"frame 3 \(ray3.0003.exr: missing\)") as caught:
        run_ingest(tmp_path, paths[:3] + paths[4:])
    assert not isinstance(caught.value, DeliveryDamaged)  # nothing came to fetch again
    staging, result = run_ingest(tmp_path, paths[:3] + paths[4:], allow_gaps=True)
    assert result.frames_record()["gaps"] == [{"frame": 1004, "file": "ray3.0003.exr",
                                               "why": "missing"}]
    assert not staging.frame_path(1004).exists() and staging.frame_path(1005).exists()


def test_an_unreadable_frame_is_damage_or_with_allow_gaps_a_gap(tmp_path):
    paths = sequence(tmp_path)
    data = paths[1].read_bytes()
    paths[1].write_bytes(data[: len(data) // 2])  # its header whole, its pixels not
    with pytest.raises(DeliveryDamaged, match="ray3.0001.exr: frame 1 of the EXR delivery "
                                              "cannot be read") as caught:
        run_ingest(tmp_path, paths)
    assert caught.value.paths == [str(paths[1])]
    staging, result = run_ingest(tmp_path, paths, allow_gaps=True)
    [gap] = result.gaps
    assert gap["frame"] == 1002 and gap["why"].startswith("unreadable")
    assert not staging.frame_path(1002).exists()
    assert result.count == 5


def test_frames_named_without_numbers_are_taken_in_name_order(tmp_path):
    paths = sequence(tmp_path, frames=1)
    single = paths[0].rename(paths[0].with_name("poster.exr"))
    _, result = run_ingest(tmp_path, [single])
    assert result.count == 1 and result.gaps == []


# -- headers -------------------------------------------------------------------------------------

def test_an_exr_declaring_30000_by_30000_is_refused_from_its_header_without_a_request(tmp_path):
    path = tmp_path / "frame.0001.exr"
    path.write_bytes(huge_exr())
    with pytest.raises(IngestError, match="30000x30000, over the 16384-pixel side / 67-megapixel "
                                          "bound.*refused from its header"):
        run_ingest(tmp_path, [path])


def test_frames_that_differ_from_the_request_are_refused_from_their_header(tmp_path):
    master = budget_for(ShotRequest.master("a", resolution="720p"))
    paths = sequence(tmp_path)
    with pytest.raises(IngestError, match="96x64, the request asked for 1280x720"):
        run_ingest(tmp_path, paths, budget=master)
    five = write_exr_sequence(tmp_path / "five", aces_frames(1280, 720, 1), name="c",
                              channels=("R", "G", "B", "A"))
    run_ingest(tmp_path, five, budget=master)  # RGBA half at the asked size: fine


def test_more_channels_or_another_pixel_type_than_asked_are_refused(tmp_path):
    import OpenImageIO as oiio
    import numpy as np

    master = budget_for(ShotRequest.master("a", resolution="720p"))
    spec = oiio.ImageSpec(1280, 720, 6, "half")
    spec.channelnames = ("R", "G", "B", "A", "Z", "N")
    path = tmp_path / "aov.0001.exr"
    out = oiio.ImageOutput.create(str(path))
    out.open(str(path), spec)
    out.write_image(np.zeros((720, 1280, 6), np.float16))
    out.close()
    with pytest.raises(IngestError, match="6 channels.*at most 4"):
        run_ingest(tmp_path, [path], budget=master)
    spec = oiio.ImageSpec(1280, 720, 3, "float")
    path = tmp_path / "float.0001.exr"
    out = oiio.ImageOutput.create(str(path))
    out.open(str(path), spec)
    out.write_image(np.zeros((720, 1280, 3), np.float32))
    out.close()
    with pytest.raises(IngestError, match="pixel type float; a 720p 5s HDR\\+EXR 16:9 delivery "
                                          "is half"):
        run_ingest(tmp_path, [path], budget=master)


def test_a_video_of_another_size_than_asked_is_refused_before_decoding(tmp_path):
    clip = make_clip(tmp_path / "plate.mp4", "sdr")
    draft = budget_for(ShotRequest.draft("a"))
    with pytest.raises(IngestError, match="the video's frames are .*, the request asked for "
                                          "640x360.*nothing of it was decoded"):
        run_ingest(tmp_path, [clip.path], budget=draft)


def test_a_video_that_does_not_open_is_damage(tmp_path):
    clip = make_clip(tmp_path / "plate.mp4", "sdr")
    data = clip.path.read_bytes()
    clip.path.write_bytes(data[:40])  # ftyp and no more
    with pytest.raises(DeliveryDamaged) as caught:
        run_ingest(tmp_path, [clip.path])
    assert caught.value.paths == [str(clip.path)]


def test_allow_gaps_on_generate_is_recorded_with_the_job(capsys):
    from genplate.core.jobs import ledger as L

    code, out = cli(capsys, "submit", "a kite over a beach", "--backend", "offline", "--allow-gaps")
    assert code == 0, out
    assert L.Ledger().get(out["job"]["id"]).publish["allow_gaps"] is True
    code, out = cli(capsys, "submit", "a kite over a beach", "--backend", "offline")
    assert L.Ledger().get(out["job"]["id"]).publish["allow_gaps"] is False
