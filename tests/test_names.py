"""Shot and take names in any script (issue #17): letters are letters, accented or not, Latin or
not, as long as the name stays one plain folder name on Windows, macOS and Linux. Names are
NFC-normalised (macOS hands back decomposed names; one take must not become two folders). A
bad name is refused before anything is recorded or paid for."""
from __future__ import annotations

import json
import unicodedata

import pytest

from genplate.core.cli.main import main
from genplate.core.jobs import ledger as L
from genplate.core.takes import layout, take as T, versions as V
from genplate.core.takes.layout import TakeError


@pytest.mark.parametrize("name", [
    "café", "Ночь_над_городом", "東京_night", "नमस्ते", "ﾃｽﾄ", "smørrebrød-2", "sh010", "road.v2",
    "-dash", "שלום", "مرحبا",
])
def test_letters_of_any_script_are_names(tmp_path, name):
    assert layout.validate_name("take", name) == name
    staging = V.reserve(tmp_path, "sh010", name, "jA")
    assert staging.dir.parent.name == name


def test_a_decomposed_name_is_stored_composed_and_found_either_way(tmp_path):
    composed, decomposed = "café", unicodedata.normalize("NFD", "café")
    assert composed != decomposed
    assert layout.validate_name("take", decomposed) == composed
    staging = V.reserve(tmp_path, "sh010", decomposed, "jA")
    assert staging.dir.parent.name == composed
    assert [p.name for p in (tmp_path / "sh010").iterdir()] == [composed]
    from test_takes import publish_fake_take

    publish_fake_take(tmp_path, "sh010", decomposed, job_id="jB")
    assert [t.name for t in T.list_takes(tmp_path, shot="sh010", name=decomposed)] == [composed]


@pytest.mark.parametrize("name, why", [
    ("a b", "space"), ("a\u3000b", "ideographic space"), ("a\u200bb", "zero-width space"),
    ("a\u202eb", "right-to-left override"), ("a\x00b", "NUL"), ("a\nb", "newline"),
    ("a/b", "separator"), ("a\\b", "separator"), ("a:b", "colon (Windows, macOS)"),
    ("a*b", "wildcard"), ("CON", "Windows device"), ("nul.txt", "Windows device"),
    ("com1", "Windows device"), ("road.", "trailing dot (Windows drops it)"),
    (".hidden", "leading dot"), ("😀", "symbol"), ("\u0301abc", "a leading combining mark"),
    ("東" * 70, "over 200 bytes in UTF-8"), ("x" * 81, "over 80 characters"),
])
def test_names_that_are_not_plain_folder_names_everywhere_are_refused(tmp_path, name, why):
    with pytest.raises(TakeError) as info:
        V.reserve(tmp_path, "sh010", name, "jA")
    assert "letters of any script" in str(info.value), why
    assert not any(tmp_path.iterdir())


def test_a_bad_name_is_refused_before_the_job_is_recorded(capsys):
    code = main(["generate", "a shot", "--name", "a b", "--backend", "offline", "--json"])
    payload = json.loads(capsys.readouterr().out)
    assert code == 2 and "'a b'" in payload["error"]
    assert L.Ledger().jobs() == []  # nothing recorded, nothing sent, nothing to pay
    code = main(["generate", "a shot", "--shot", "CON", "--backend", "offline", "--json"])
    assert code == 2 and "CON" in json.loads(capsys.readouterr().out)["error"]
    assert L.Ledger().jobs() == []


def test_hdr_alone_says_it_makes_a_720p_master(capsys, monkeypatch):
    from genplate.core.cli import options
    from genplate.core.cli.main import build_parser

    args = build_parser().parse_args(["generate", "a shot", "--hdr"])
    request = options.request_from(args)
    assert request.resolution == "720p" and request.hdr
    err = capsys.readouterr().err
    assert "--hdr" in err and "720p" in err and "--resolution 1080p" in err
    args = build_parser().parse_args(["generate", "a shot", "--hdr", "--resolution", "1080p"])
    options.request_from(args)
    assert capsys.readouterr().err == ""  # asked for in full: nothing to say
