"""Everything a publish needs is checked before the create: with the Luma emulator listening, a
shot whose take could not be published is refused with what to change, and nothing at all
reaches the service (no create, no upload) and nothing is recorded in the ledger."""
from __future__ import annotations

import json
import os
import shutil
import subprocess

import pytest

from genplate.core.cli.main import main
from genplate.core.jobs import ledger as L
from genplate.core.jobs import preflight
from genplate.core.jobs.runner import JobRunner, submit
from genplate.core.request import ShotRequest
from genplate.core.takes.record import PublishSpec

from luma_emulator import serving


@pytest.fixture
def emu(monkeypatch):
    yield from serving(monkeypatch)


def refused(capsys, emu, tmp_path, *options: str) -> str:
    argv = ["generate", "a kite over a beach", "--backend", "luma", "--json",
            "--root", str(tmp_path / "takes"), *options]
    code = main(argv)
    out = capsys.readouterr().out.strip().splitlines()
    assert code == 2 and len(out) == 1, out
    answer = json.loads(out[0])
    assert set(answer) == {"error"}
    assert emu.log == [] and emu.creates_received == {}  # nothing reached the service
    assert L.Ledger().jobs() == []  # and nothing was recorded
    return answer["error"]


def test_a_shot_name_that_is_not_a_folder_name(capsys, emu, tmp_path):
    assert "shot name '../sh010'" in refused(capsys, emu, tmp_path, "--shot", "../sh010")


def test_a_take_name_that_is_not_a_folder_name(capsys, emu, tmp_path):
    assert "take name 'kite/beach'" in refused(capsys, emu, tmp_path, "--name", "kite/beach")


def test_a_root_that_is_a_file(capsys, emu, tmp_path):
    (tmp_path / "takes").write_text("not a folder")
    error = refused(capsys, emu, tmp_path)
    assert "is a file, not a folder" in error and str(tmp_path / "takes") in error


def test_a_root_inside_a_file(capsys, emu, tmp_path):
    (tmp_path / "notes.txt").write_text("x")
    error = refused(capsys, emu, tmp_path, "--root", str(tmp_path / "notes.txt" / "takes"))
    assert "notes.txt is a file" in error


def test_a_missing_root_is_made_at_publish_when_it_can_be(tmp_path):
    """The first take of a new root, even folders deep: the nearest folder that exists is
    writable, so the root is simply created when the take is published."""
    spec = PublishSpec(root=str(tmp_path / "new" / "show" / "takes"), shot="sh010", name="kite")
    assert preflight.check_root(spec) == tmp_path
    assert not (tmp_path / "new").exists()  # checking made nothing


def _read_only_dir(path):
    """A folder this process cannot write: by permissions, or (as root) a read-only mount."""
    path.mkdir()
    if os.geteuid() != 0:
        path.chmod(0o555)
        return path, lambda: path.chmod(0o755)
    if shutil.which("mount") is None:
        return None, None
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(path)],
                          capture_output=True)
    if done.returncode != 0:
        return None, None
    return path, lambda: subprocess.run(["umount", "-l", str(path)], capture_output=True)


def test_a_read_only_root_and_a_missing_one_that_cannot_be_made(capsys, emu, tmp_path):
    root, undo = _read_only_dir(tmp_path / "readonly")
    if root is None:
        pytest.skip("running as root without the right to mount a read-only file system")
    try:
        error = refused(capsys, emu, tmp_path, "--root", str(root))
        assert "cannot write in" in error and "writable" in error
        # Under a folder that cannot be written (an unmounted share's mount point, say).
        error = refused(capsys, emu, tmp_path, "--root", str(root / "show" / "takes"))
        assert f"cannot write in {root}" in error and "does not exist yet" in error
        assert "mounted" in error
    finally:
        undo()


def test_a_config_that_does_not_exist(capsys, emu, tmp_path):
    error = refused(capsys, emu, tmp_path, "--config", str(tmp_path / "studio.ocio"))
    assert "studio.ocio" in error and "does not exist" in error


def test_a_working_space_the_config_lacks(capsys, emu, tmp_path):
    error = refused(capsys, emu, tmp_path, "--working-space", "NoSuchSpace")
    assert "'NoSuchSpace'" in error and "working space" in error


def test_a_config_that_cannot_convert_the_expected_hdr_delivery(capsys, emu, tmp_path):
    """Luma's HDR MP4 is PQ or HLG (undocumented): the config must take either to the
    working space. The CG config has no HLG display, so an HDR take without EXR is refused."""
    error = refused(capsys, emu, tmp_path, "--resolution", "720p", "--hdr",
                    "--config", "ocio://cg-config-v4.0.0_aces-v2.0_ocio-v2.5")
    assert "hdr-hlg" in error and "Rec.2100-HLG" in error


def test_not_enough_disk_for_the_delivery_and_the_frames(capsys, emu, tmp_path, monkeypatch):
    monkeypatch.setattr(preflight, "free_bytes", lambda path: 20 * preflight.MIB)
    error = refused(capsys, emu, tmp_path, "--master")
    assert "not enough disk space" in error and "genplate clean" in error
    # A 1080p master with EXR: ~190 MB of delivery (the "about 200 MB") + the frames.
    request = ShotRequest.master("x")
    delivery, take = preflight.expected_bytes(request, PublishSpec(root=".", shot="s", name="n"))
    assert 150 * preflight.MIB < delivery < 300 * preflight.MIB and take > delivery


def test_a_really_small_disk(capsys, emu, tmp_path):
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("needs a tmpfs mount (root); the check itself is covered above")
    disk = tmp_path / "small"
    disk.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=32m", "tmpfs", str(disk)],
                      capture_output=True).returncode != 0:
        pytest.skip("cannot mount a tmpfs here")
    try:
        error = refused(capsys, emu, tmp_path, "--root", str(disk / "takes"))
    finally:
        subprocess.run(["umount", "-l", str(disk)], capture_output=True)
    assert "not enough disk space" in error and str(disk) in error


def test_no_key_for_the_luma_backend(capsys, emu, tmp_path, monkeypatch):
    monkeypatch.delenv("LUMA_AGENTS_API_KEY")
    error = refused(capsys, emu, tmp_path)
    assert "no Luma API key" in error and "genplate login" in error


def test_a_recorded_job_whose_root_went_bad_is_not_sent(tmp_path, emu):
    """A queued job (a panel's worker starting later, a resume): checked again right before its
    create; it waits, unsent, with what to fix, and goes once the root is right again."""
    ledger = L.Ledger()
    job = submit(ledger, ShotRequest.draft("a kite over a beach"),
                 PublishSpec(root=str(tmp_path / "takes"), shot="sh010", name="kite"), "luma")
    (tmp_path / "takes").write_text("not a folder")
    parked = JobRunner(ledger).run(job.id)
    assert parked.state == L.QUEUED and parked.create_intent_at is None
    assert "not sent" in parked.error and "is a file" in parked.error
    assert emu.creates_received == {}
    (tmp_path / "takes").unlink()
    assert JobRunner(ledger).run(job.id).state == L.READY and emu.creates_made == {job.id: 1}
