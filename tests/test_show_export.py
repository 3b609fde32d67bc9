"""`genplate show` and `genplate export` as an artist meets them (issue #17): a human summary of
a take (the record stays for --json), exports that land beside the take rather than in the
current folder, and `-o -` for stdout."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import opentimelineio as otio
import pytest

from genplate.core.cli.main import main
from test_takes import publish_fake_take


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def take(tmp_path):
    scores = {"verdict": "broken", "score": 41.5, "reasons": ["black frames: 12 of 121"],
              "warnings": []}
    take = publish_fake_take(tmp_path / "takes", "sh010", "desert_road", count=3,
                             prompt="a desert road at dusk, heat haze")
    (take.dir / "scores.json").write_text(json.dumps(scores))  # as `genplate judge` leaves it
    return take


def test_show_prints_a_short_human_summary(capsys, take, tmp_path):
    code, out, _ = run(capsys, "show", "sh010/desert_road", "--root", str(tmp_path / "takes"))
    assert code == 0
    with pytest.raises(ValueError):
        json.loads(out)  # not the raw record
    lines = out.splitlines()
    assert 5 <= len(lines) <= 16, out
    text = out
    assert "sh010/desert_road v001" in lines[0]
    assert "a desert road at dusk, heat haze" in text           # prompt
    assert "offline" in text                                    # backend
    assert "1001-1003" in text and "3 frames" in text           # frames
    assert "ACEScg" in text and "sdr-rec709" in text            # colour
    assert "broken 41.5" in text and "black frames" in text     # verdict
    assert "free" in text                                       # cost (offline)
    assert str(take.dir) in text                                # where


def test_show_json_keeps_the_record(capsys, take, tmp_path):
    code, out, _ = run(capsys, "show", "sh010/desert_road", "--root", str(tmp_path / "takes"),
                       "--json")
    payload = json.loads(out)
    assert code == 0 and payload["record"] == take.record
    assert payload["take"]["dir"] == str(take.dir)


def test_show_into_a_closed_pipe_prints_no_traceback(take, tmp_path):
    read, write = os.pipe()
    os.close(read)
    try:
        done = subprocess.run([sys.executable, "-m", "genplate.core.cli", "show",
                               "sh010/desert_road", "--root", str(tmp_path / "takes")],
                              stdout=write, stderr=subprocess.PIPE, text=True, timeout=120)
    finally:
        os.close(write)
    assert done.stderr == "", done.stderr


def test_exports_default_to_the_take_folder_not_the_current_one(capsys, take, tmp_path,
                                                                 monkeypatch):
    cwd = tmp_path / "elsewhere"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    root = str(tmp_path / "takes")
    code, out, _ = run(capsys, "export", "nuke", "sh010/desert_road", "--root", root, "--json")
    nk = json.loads(out)["path"]
    assert code == 0 and os.path.dirname(nk) == str(take.dir.parent)
    assert "Read {" in open(nk).read() or "Read" in open(nk).read()
    code, out, _ = run(capsys, "export", "otio", "sh010/desert_road", "--root", root, "--json")
    timeline = json.loads(out)["path"]
    assert code == 0 and os.path.dirname(timeline) == str(take.dir.parent)
    assert otio.adapters.read_from_file(timeline).tracks
    assert list(cwd.iterdir()) == []  # nothing landed where the command happened to run
    assert sorted(p.name for p in take.dir.parent.iterdir() if p.is_dir()) == ["v001"]


def test_export_to_dash_writes_stdout_and_no_file(capsys, take, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    root = str(tmp_path / "takes")
    code, out, _ = run(capsys, "export", "nuke", "sh010/desert_road", "--root", root, "-o", "-")
    assert code == 0 and "Read" in out and str(take.dir) in out
    code, out, _ = run(capsys, "export", "otio", "sh010/desert_road", "--root", root, "-o", "-")
    assert code == 0 and otio.adapters.read_from_string(out, "otio_json").tracks
    assert not (tmp_path / "-").exists()
    code, out, _ = run(capsys, "export", "nuke", "sh010/desert_road", "--root", root, "-o", "-",
                       "--json")
    payload = json.loads(out)  # still one object: the snippet inside it
    assert code == 0 and payload["path"] is None and "Read" in payload["text"]
