"""`genplate ingest FILE...`: footage published as a take the way a generation is."""
from __future__ import annotations

import json
import subprocess
from pathlib import Path
import sys

import numpy as np
import pytest

from genplate.core.takes import take as takes
from genplate.core.cli.main import main

from test_ingest_media import aces_frames, make_clip, read_exr, write_exr_sequence, zip_files


def _run(capsys, *argv) -> tuple[int, dict]:
    code = main(list(argv))
    out = capsys.readouterr().out.strip()
    return code, (json.loads(out.splitlines()[-1]) if out else {})


def test_ingest_a_video_publishes_a_take(tmp_path, capsys):
    clip = make_clip(tmp_path / "Beach Plate.mp4", "sdr")
    root = tmp_path / "takes"
    code, out = _run(capsys, "ingest", str(clip.path), "--root", str(root), "--shot", "sh020",
                     "--sdr-mode", "texture", "--prompt", "beach at noon", "--json")
    assert code == 0
    assert (out["shot"], out["name"], out["version"]) == ("sh020", "beach_plate", 1)
    assert (out["first"], out["last"], out["fps"], out["colorspace"]) == (1001, 1003, 24, "ACEScg")
    assert out["pattern"].endswith("sh020/beach_plate/v001/beach_plate_v001.%04d.exr")
    assert out["ingest"]["source_kind"] == "sdr-rec709"
    take = takes.load_take(out["dir"])
    record = take.record
    assert record["schema"] == "genplate.take/1" and record["backend"] == "ingest"
    assert record["colour"]["sdr_mode"] == "texture"
    assert record["sources"][0]["path"] == str(clip.path)
    assert take.prompt == "beach at noon"
    _, attrs = read_exr(out["pattern"] % 1002)
    assert attrs["genplate:backend"] == "ingest"
    assert attrs["genplate:version"] == "v001"
    assert (take.dir / "thumbnail.png").is_file()
    # again: the next version
    code, out = _run(capsys, "ingest", str(clip.path), "--root", str(root), "--shot", "sh020",
                     "--json")
    assert code == 0 and out["version"] == 2


def test_ingest_a_zip_of_exr_frames_and_a_folder(tmp_path, capsys):
    frames = aces_frames(frames=3)
    paths = write_exr_sequence(tmp_path / "download", frames, name="hifi")
    archive = zip_files(tmp_path / "hifi_download.zip", paths)
    root = tmp_path / "takes"
    code, out = _run(capsys, "ingest", str(archive), "--root", str(root), "--name", "hifi",
                     "--first-frame", "1", "--output", "aces-archive", "--output", "dpx10",
                     "--json")
    assert code == 0 and (out["first"], out["last"]) == (1, 3)
    outputs = takes.load_take(out["dir"]).record["colour"]["outputs"]
    assert [o["name"] for o in outputs] == ["aces-archive", "dpx10"]
    assert (Path(out["dir"]) / "dpx10" / "hifi_v001.0003.dpx").is_file()
    pixels, attrs = read_exr(out["pattern"] % 1)
    assert pixels.max() > 50
    code, out = _run(capsys, "ingest", str(tmp_path / "download"), "--root", str(root),
                     "--name", "hifi", "--working-space", "ACES2065-1", "--json")
    assert code == 0 and out["version"] == 2 and out["colorspace"] == "ACES2065-1"
    pixels, _ = read_exr(out["pattern"] % 1001)
    source, _ = read_exr(paths[0])  # DWAB (lossy) as Luma sends it: decoded once, kept exactly
    assert np.array_equal(pixels, source)


def test_a_failed_ingest_publishes_nothing_and_says_why(tmp_path, capsys):
    bogus = tmp_path / "notes.txt"
    bogus.write_text("not footage")
    root = tmp_path / "takes"
    code, out = _run(capsys, "ingest", str(bogus), "--root", str(root), "--json")
    assert code != 0 and "no video or EXR" in out["error"]
    assert not list(root.rglob("v001")) and not list(root.rglob("*.staging"))
    clip = make_clip(tmp_path / "c.mp4", "sdr", frames=1)
    code, out = _run(capsys, "ingest", str(clip.path), "--root", str(root), "--compression",
                     "lzw", "--json")
    assert code != 0 and "compression" in out["error"]
    code, out = _run(capsys, "ingest", str(tmp_path / "gone.mp4"), "--root", str(root), "--json")
    assert code != 0 and "gone.mp4" in out["error"]


@pytest.mark.slow
def test_the_installed_command(tmp_path):
    clip = make_clip(tmp_path / "c.mp4", "untagged", frames=2)
    proc = subprocess.run([sys.executable, "-m", "genplate.core.cli", "ingest", str(clip.path),
                           "--root", str(tmp_path / "takes"), "--json"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["ingest"]["assumed"] and "assumed" in proc.stderr
