"""What long steps show on stderr (issue #17): a terminal gets bars whose download counts bytes
with units; a host's log (stderr not a terminal) gets one line per step and per 10 %, so a
78-second promote is never silent there."""
from __future__ import annotations

import io

from genplate.core.cli.output import Bars

MB = 1024 * 1024


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def feed_a_job(bars: Bars) -> None:
    """The messages the job runner sends (stage: detail), as a promote sends them."""
    for i in range(0, 101):
        bars(i / 100, 1.0, "generating: processing")
    total = 48 * MB
    for done in range(0, total + 1, 512 * 1024):
        bars(done, total, "downloading: output-0.mp4")
    for frame in range(1, 242):
        bars(frame, 241, f"ingesting: frame {frame}")
    bars.close()


def test_without_a_terminal_one_line_per_step_and_per_ten_percent():
    log = io.StringIO()
    feed_a_job(Bars("j1234ab ", stream=log))
    lines = log.getvalue().splitlines()
    assert all(line.startswith("genplate: j1234ab ") for line in lines), lines
    for stage in ("generating", "downloading", "ingesting"):
        mine = [line for line in lines if f" {stage} " in line]
        # the step's start, then 10 %, 20 % ... 100 %: never a line per chunk or per frame
        assert 2 <= len(mine) <= 11, (stage, mine)
        assert mine[-1].split()[3] == "100%", mine
    downloading = [line for line in lines if " downloading " in line]
    assert "48.0 MB" in downloading[-1] and "of 48.0 MB" in downloading[-1]
    assert "frame" in [line for line in lines if " ingesting " in line][-1]
    assert "\r" not in log.getvalue()  # a log, not a redrawn bar


def test_an_unknown_total_still_says_the_step_once():
    log = io.StringIO()
    bars = Bars(stream=log)
    for done in range(0, 10 * MB, MB):
        bars(done, 0, "downloading: output-0.mp4")
    bars.close()
    lines = log.getvalue().splitlines()
    assert len(lines) == 1 and "downloading" in lines[0]


def test_on_a_terminal_the_download_bar_counts_bytes_with_units():
    screen = Terminal()
    bars = Bars(stream=screen)
    for done in range(0, 8 * MB + 1, MB):
        bars(done, 8 * MB, "downloading: output-0.mp4")
    bars.close()
    text = screen.getvalue()
    assert "\r" in text  # a bar, redrawn
    assert "8.00MB" in text or "8.0MB" in text or "8.00M" in text, text[-300:]
