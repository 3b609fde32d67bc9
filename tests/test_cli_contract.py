"""The command's contract as a newcomer and a host meet it (issue #17): an option error under
``--json`` is one ``{"error": ...}`` object on stdout; without it, one line that names the
nearest valid value; help that explains every option; no traceback into a closed pipe."""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

import pytest

from genplate.core.cli.main import build_parser, main


def run(capsys, *argv: str) -> tuple[int, str, str]:
    try:
        code = main(list(argv))
    except SystemExit as exc:  # what argparse did before: exit with the usage on stderr
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("argv", [
    ("generate", "--resolution", "4k", "a shot", "--json"),
    ("generate", "--json"),                       # no prompt
    ("budget", "--cap", "abc", "--json"),
    ("frobnicate", "--json"),                     # no such command
    ("--json", "frobnicate"),
    ("drafts", "-n", "two", "--json", "gulls"),
])
def test_an_option_error_under_json_is_one_error_object_on_stdout(capsys, argv):
    code, out, err = run(capsys, *argv)
    assert code not in (0, None)
    lines = out.splitlines()
    assert len(lines) == 1, out
    payload = json.loads(lines[0])
    assert list(payload) == ["error"] and payload["error"]
    assert "usage:" not in err


def test_a_json_flag_after_the_double_dash_is_the_prompt_not_the_flag(capsys):
    code, out, err = run(capsys, "generate", "--resolution", "4k", "--", "--json")
    assert code == 2 and out == ""
    assert "--resolution" in err


def test_without_json_an_option_error_is_one_line_with_the_nearest_valid_value(capsys):
    code, out, err = run(capsys, "generate", "--resolution", "720", "a shot")
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and "usage:" not in err
    assert "did you mean 720p?" in err and "--resolution" in err
    code, _, err = run(capsys, "generate", "--resolution", "4k", "a shot")
    assert err.count("\n") == 1
    assert "360p, 540p, 720p or 1080p" in err  # nothing is near: the choices, in one line
    code, _, err = run(capsys, "generat", "a shot")
    assert code == 2 and err.count("\n") == 1 and "did you mean generate?" in err
    code, _, err = run(capsys, "generate", "--resolutoin", "720p", "a shot")
    assert code == 2 and err.count("\n") == 1 and "did you mean --resolution?" in err
    code, _, err = run(capsys, "budget", "--cap", "abc")
    assert code == 2 and err.count("\n") == 1 and "--cap" in err and "abc" in err


def test_hidden_commands_stay_out_of_the_list_of_choices(capsys):
    code, _, err = run(capsys, "frobnicate")
    assert code == 2
    assert "generate" in err and "drafts" in err
    assert "worker" not in err  # neither `worker` nor `drafts-worker`


def _subcommands() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    listed = {a.dest for a in sub._choices_actions}
    return {name: p for name, p in sub.choices.items() if name in listed}


def test_every_listed_option_says_what_it_does_and_no_default_reads_none():
    missing = []
    for name, parser in _subcommands().items():
        for action in parser._actions:
            if isinstance(action, argparse._HelpAction) or action.help == argparse.SUPPRESS:
                continue
            if not (action.help or "").strip():
                missing.append(f"{name} {'/'.join(action.option_strings) or action.dest}")
        text = parser.format_help()
        assert "(default None)" not in text and "default: None" not in text, name
    assert not missing, f"options without help: {missing}"


def test_the_help_still_prints_and_exits_zero(capsys):
    code, out, _ = run(capsys, "generate", "--help")
    assert code == 0 and "--resolution" in out


def _closed_pipe_run(*argv: str, env=None) -> subprocess.CompletedProcess:
    """Run with stdout a pipe whose reader is already gone (`genplate ... | head` after head
    has quit): every write fails with EPIPE, deterministically."""
    read, write = os.pipe()
    os.close(read)
    try:
        return subprocess.run([sys.executable, "-m", "genplate.core.cli", *argv], stdout=write,
                              stderr=subprocess.PIPE, text=True, timeout=120, env=env)
    finally:
        os.close(write)


@pytest.mark.parametrize("argv", [("budget",), ("budget", "--json"), ("--help",)])
def test_no_traceback_into_a_closed_pipe(argv):
    done = _closed_pipe_run(*argv)
    assert "Traceback" not in done.stderr and "BrokenPipeError" not in done.stderr, done.stderr
    assert "Exception ignored" not in done.stderr


def test_ctrl_c_anywhere_is_one_line_or_one_error_object_not_a_traceback(capsys, monkeypatch):
    from genplate.core.jobs import budget

    def interrupted(*_a, **_k):
        raise KeyboardInterrupt

    monkeypatch.setattr(budget, "status", interrupted)
    code, out, err = run(capsys, "budget", "--json")
    assert code == 130 and "genplate resume" in json.loads(out)["error"]
    code, out, err = run(capsys, "budget")
    assert code == 130 and out == "" and err.count("\n") == 1 and "interrupted" in err
