"""Draft batches in the panel (pytest-qt): a drafts count above one sends one
`genplate drafts -n N --detach`, the batch's contact sheet shows when its JSON lands, and
every take's judged verdict and rank show in the take list.

The scripted stand-in of tests/test_panel.py, taught `drafts`, plays the engine; the test
itself plays the detached batch process (judging, ranking, drawing the sheet) once the drafts
are published, so each step the panel waits for is visible here. The last test runs the real
engine on the offline backend end to end.
"""
from __future__ import annotations

import json
import os
import sys
import textwrap
import time
from pathlib import Path

import pytest

pytest.importorskip("pytestqt")

from genplate.panel import commands as C  # noqa: E402
from panel_stub import install_stub  # noqa: E402
from genplate.panel.labels import take_label, take_tooltip  # noqa: E402
from genplate.panel.panel import GenplatePanel  # noqa: E402
from genplate.panel.qt import QtGui, Qt  # noqa: E402
from genplate.panel.diagnostics import StallMeter  # noqa: E402
from test_panel import STUB, RecordingHost, assert_responsive  # noqa: E402

LEFT = Qt.MouseButton.LeftButton

DRAFTS = textwrap.dedent('''
    if cmd == "drafts":  # like `drafts --detach`: the jobs recorded, the batch's files named
        prompt = argv[argv.index("--") + 1]
        n = int(opt("-n"))
        name = opt("--name") or prompt.split()[0].lower()
        batch = f"b{s['n'] + 1:04d}"
        jobs = []
        for i in range(1, n + 1):
            s["n"] += 1
            jid = f"j{s['n']:04d}"
            s["jobs"][jid] = {"id": jid, "state": "queued", "backend": "stub", "prompt": prompt,
                "shot": opt("--shot"), "name": f"{name}_d{i:02d}", "kind": "draft",
                "progress": None, "message": "queued", "error": None, "cancel_requested": False,
                "estimate_usd": 0.0, "take_dir": None, "polls": 0, "root": opt("--root")}
            jobs.append(public(s["jobs"][jid]))
        save(s)
        sheet = Path(opt("--root")) / opt("--shot") / "contact_sheets" / f"{name}_{batch}.png"
        out({"batch": batch, "detached": True, "jobs": jobs, "estimate_usd": 0.0,
             "contact_sheet": str(sheet), "batch_json": str(sheet.with_suffix(".json")),
             "log": str(STATE.with_suffix(f".{batch}.log"))})
''')
BATCHES = textwrap.dedent('''
    if cmd == "batches":  # what the test wrote as the engine's batches (none by default)
        listed = STATE.with_suffix(".batches.json")
        out(json.loads(listed.read_text()) if listed.exists() else {"batches": []})
''')
DRAFTS_STUB = (STUB
               .replace('"prompt": rec["prompt"]}', '"prompt": rec["prompt"], '
                                                    '"scores": rec.get("scores")}', 1)
               .replace("\ns = load()\n", "\ns = load()\n" + DRAFTS + BATCHES, 1))


@pytest.fixture
def stub(tmp_path, monkeypatch):
    assert DRAFTS_STUB.count("rec.get(\"scores\")") == 1 and 'cmd == "drafts"' in DRAFTS_STUB
    return install_stub(tmp_path, monkeypatch, DRAFTS_STUB)


def make_panel(qtbot, host):
    panel = GenplatePanel(host, poll_ms=150, idle_poll_ms=400)
    qtbot.addWidget(panel, before_close_func=lambda w: w.client.shutdown())
    panel.resize(640, 960)
    panel.show()
    return panel


def finish_batch(answer: dict, takes: list[Path]) -> None:
    """What the detached batch process does once its drafts are published: judge each take
    (scores into take.json), rank them, draw the sheet, then write the batch's JSON last."""
    judged = {0: ("ok", 91.0, []), 1: ("broken", 41.5, ["black frames: 12 of 121"]),
              2: ("ok", 77.0, [])}
    drafts = []
    for slot, take_dir in enumerate(sorted(takes)):
        verdict, score, reasons = judged[slot]
        record = json.loads((take_dir / "take.json").read_text())
        record["scores"] = {"verdict": verdict, "score": score, "reasons": reasons,
                            "warnings": ["slight flicker"] if slot == 2 else []}
        (take_dir / "take.json").write_text(json.dumps(record))
        drafts.append({"name": record["name"], "version": 1, "take_dir": str(take_dir),
                       "verdict": verdict, "score": score, "state": "ready"})
    for rank, draft in enumerate(sorted(drafts, key=lambda d: (d["verdict"] != "ok",
                                                               -d["score"])), start=1):
        draft["rank"] = rank
    sheet = Path(answer["contact_sheet"])
    sheet.parent.mkdir(parents=True, exist_ok=True)
    image = QtGui.QImage(900, 300, QtGui.QImage.Format.Format_RGB888)
    image.fill(QtGui.QColor(20, 140, 90))
    assert image.save(str(sheet))
    tmp = Path(answer["batch_json"] + ".tmp")
    tmp.write_text(json.dumps({"batch": answer["batch"], "contact_sheet": str(sheet),
                               "drafts": sorted(drafts, key=lambda d: d["rank"])}))
    os.replace(tmp, answer["batch_json"])


def test_drafts_args_are_submit_options_with_a_count_and_detach():
    fields = C.RequestFields(prompt="-gulls", root="/r", shot="sh030", strokes="/s.json",
                             keyframes={0: "/a.png"})
    args = C.drafts_args(fields, 3)
    assert args[:5] == ["drafts", "--json", "-n", "3", "--detach"]
    assert args[-2:] == ["--", "-gulls"]
    submit = C.submit_args(fields)
    assert args[5:-2] == submit[2:-2]  # every request option means what it means for submit


def test_take_labels_show_the_verdict_score_and_rank():
    take = {"name": "gulls_d02", "version": 1, "kind": "draft", "latest": True,
            "scores": {"verdict": "broken", "score": 41.5, "reasons": ["black frames: 12"],
                       "warnings": ["slight flicker"]}}
    assert take_label(take, 3) == "gulls_d02 v001\ndraft, latest\n#3 broken 41.5"
    assert take_label({"name": "x", "version": 2}) == "x v002"  # unjudged: no verdict line
    tip = take_tooltip(take)
    assert "judged broken 41.5" in tip and "- black frames: 12" in tip and "slight flicker" in tip


def test_a_drafts_count_sends_one_batch_and_shows_its_sheet_and_verdicts(qtbot, stub, tmp_path):
    panel = make_panel(qtbot, RecordingHost(stub.root, tmp_path))
    panel.prompt.setPlainText("gulls over the harbour")
    assert panel.draft_count.isEnabled() and panel.draft_count.value() == 1
    panel.draft_count.setValue(3)
    assert "3 360p SDR drafts at once" in panel.request_note.text()
    # The engine's answer reaches the panel late, as on a loaded machine: the job poll may
    # show the three jobs first. Wait on what is asserted, never on time.
    panel.client.drafts = _wrap(panel.client.drafts, panel, late_ms=1500)
    said = []  # every status line, not only the last: a job's own news may follow at once
    panel.statusChanged.connect(said.append)
    qtbot.mouseClick(panel.generate, LEFT)
    qtbot.waitUntil(lambda: panel.queue.topLevelItemCount() == 3, timeout=30000)
    sent = [c for c in stub.calls() if c[0] in ("drafts", "submit")]
    assert len(sent) == 1 and sent[0][0] == "drafts"
    assert sent[0][sent[0].index("-n") + 1] == "3" and "--detach" in sent[0]
    assert sent[0][-2:] == ["--", "gulls over the harbour"] and "--draft" in sent[0]
    qtbot.waitUntil(lambda: any("3 drafts queued" in line for line in said), timeout=30000)
    assert any(line.startswith("batch ") and "3 drafts queued" in line for line in said)

    items = [panel.queue.topLevelItem(i) for i in range(3)]
    qtbot.waitUntil(lambda: all(i.text(1) == "ready" for i in items), timeout=60000)
    assert not panel.sheet_box.isVisibleTo(panel)  # the jobs are done, the batch is not yet
    takes = sorted((stub.root / "sh020").glob("gulls_d0*/v001"))
    assert len(takes) == 3
    finish_batch(panel._sent_drafts[0], takes)  # (on this thread: not the panel's time)
    meter = StallMeter(5)
    meter.start()

    qtbot.waitUntil(lambda: panel.sheet_box.isVisibleTo(panel), timeout=30000)
    qtbot.waitUntil(lambda: panel.sheet_view.pixmap() is not None
                    and not panel.sheet_view.pixmap().isNull(), timeout=10000)
    image = panel.sheet_view.pixmap().toImage()
    assert image.pixelColor(image.width() // 2, image.height() // 2).getRgb()[:3] == (20, 140, 90)
    assert "3 drafts ranked, 2 ok" in panel.sheet_note.text()
    assert "best gulls_d01 v001 (ok 91.0)" in panel.sheet_note.text()
    meter.stop()
    assert_responsive(meter, panel)  # the sheet was decoded and scaled off the GUI thread

    def labels():
        return {panel.takes_list.item(i).text().split()[0]: (panel.takes_list.item(i).text(),
                                                             panel.takes_list.item(i).toolTip())
                for i in range(panel.takes_list.count())}

    qtbot.waitUntil(lambda: "#1 ok 91.0" in labels().get("gulls_d01", ("",))[0], timeout=30000)
    got = labels()
    assert got["gulls_d02"][0].endswith("#3 broken 41.5")
    assert "black frames: 12 of 121" in got["gulls_d02"][1]
    assert got["gulls_d03"][0].endswith("#2 ok 77.0")
    assert "rank 2 in its draft batch" in got["gulls_d03"][1]

    panel.show_contact_sheet()
    assert panel._provenance_windows[-1].objectName() == "genplateContactSheet"


def _wrap(drafts, panel, *, late_ms: int = 0):
    """Keep the engine's answer to the drafts call for the test (the batch's file names);
    ``late_ms``: hand it to the panel that much later (a loaded machine's slow answer)."""
    from genplate.panel.qt import QtCore

    panel._sent_drafts = []

    def call(fields, count, on_answer, on_failure):
        def answered(payload):
            def deliver():
                panel._sent_drafts.append(payload)
                on_answer(payload)
            QtCore.QTimer.singleShot(late_ms, deliver) if late_ms else deliver()
        drafts(fields, count, answered, on_failure)
    return call


def test_one_draft_is_a_plain_submit_and_only_drafts_have_a_count(qtbot, stub, tmp_path):
    panel = make_panel(qtbot, RecordingHost(stub.root, tmp_path))
    panel.prompt.setPlainText("a single draft")
    panel.submit()
    qtbot.waitUntil(lambda: panel.queue.topLevelItemCount() == 1, timeout=30000)
    assert [c[0] for c in stub.calls() if c[0] in ("drafts", "submit")] == ["submit"]
    panel.draft_count.setValue(4)
    panel.quality.setCurrentIndex(panel.quality.findData("master"))
    assert not panel.draft_count.isEnabled()
    panel.prompt.setPlainText("one master, whatever the drafts count says")
    panel.submit()
    qtbot.waitUntil(lambda: panel.queue.topLevelItemCount() == 2, timeout=30000)
    sent = [c for c in stub.calls() if c[0] in ("drafts", "submit")]
    assert [c[0] for c in sent] == ["submit", "submit"] and "--master" in sent[1]


def _published_draft(root: Path, name: str) -> Path:
    """A draft take as the stub publishes one."""
    d = root / "sh020" / name / "v001"
    d.mkdir(parents=True)
    (d / "take.json").write_text(json.dumps({"shot": "sh020", "name": name, "kind": "draft",
                                             "job_id": f"j-{name}", "prompt": "gulls",
                                             "request": {"prompt": "gulls"}}))
    return d


def test_a_reopened_panel_shows_the_shots_last_batch_and_follows_a_running_one(
        qtbot, stub, tmp_path):
    """A new host session: the panel asks `genplate batches --json` for the shot, shows the
    finished batch's ranks and contact sheet, and watches a batch still being run."""
    takes = [_published_draft(stub.root, f"gulls_d0{i}") for i in (1, 2)]
    sheet = stub.root / "sh020" / "contact_sheets" / "gulls_b0001.png"
    sheet.parent.mkdir(parents=True)
    image = QtGui.QImage(900, 300, QtGui.QImage.Format.Format_RGB888)
    image.fill(QtGui.QColor(30, 60, 200))
    assert image.save(str(sheet))
    running_json = stub.root / "sh020" / "contact_sheets" / "herons_b0002.json"
    done = {"batch": "b0001", "state": "done", "shot": "sh020", "name": "gulls", "count": 2,
            "contact_sheet": str(sheet), "batch_json": str(sheet.with_suffix(".json")),
            "drafts": [{"name": "gulls_d02", "version": 1, "take_dir": str(takes[1]), "rank": 1,
                        "verdict": "ok", "score": 88.0, "state": "ready"},
                       {"name": "gulls_d01", "version": 1, "take_dir": str(takes[0]), "rank": 2,
                        "verdict": "broken", "score": 40.0, "state": "ready"}]}
    running = {"batch": "b0002", "state": "running", "shot": "sh020", "name": "herons",
               "count": 2, "contact_sheet": str(running_json.with_suffix(".png")),
               "batch_json": str(running_json), "drafts": []}
    Path(str(stub.log).replace(".log", ".batches.json")).write_text(
        json.dumps({"batches": [running, done]}))

    panel = make_panel(qtbot, RecordingHost(stub.root, tmp_path))
    qtbot.waitUntil(lambda: panel.sheet_box.isVisibleTo(panel), timeout=30000)
    assert "batch b0001: 2 drafts ranked, 1 ok" in panel.sheet_note.text()
    qtbot.waitUntil(lambda: panel.sheet_view.pixmap() is not None
                    and not panel.sheet_view.pixmap().isNull(), timeout=10000)
    image = panel.sheet_view.pixmap().toImage()
    assert image.pixelColor(image.width() // 2, image.height() // 2).getRgb()[:3] == (30, 60, 200)
    batches_calls = [c for c in stub.calls() if c[0] == "batches"]
    assert batches_calls and "--json" in batches_calls[0]
    assert batches_calls[0][batches_calls[0].index("--shot") + 1] == "sh020"

    def label(name):
        return next((panel.takes_list.item(i).text() for i in range(panel.takes_list.count())
                     if panel.takes_list.item(i).text().startswith(name)), "")

    qtbot.waitUntil(lambda: "#1" in label("gulls_d02") and "#2" in label("gulls_d01"),
                    timeout=30000)
    # The running batch is followed: when its JSON lands, its sheet replaces the old one.
    assert "b0002" in panel._batches
    image.fill(QtGui.QColor(200, 30, 30))
    assert image.save(str(running_json.with_suffix(".png")))
    tmp = running_json.with_suffix(".tmp")
    tmp.write_text(json.dumps({"batch": "b0002", "contact_sheet": str(running_json.with_suffix(".png")),
                               "drafts": []}))
    os.replace(tmp, running_json)
    qtbot.waitUntil(lambda: "batch b0002" in panel.sheet_note.text(), timeout=30000)


# -- the real engine ----------------------------------------------------------------------

@pytest.mark.slow
def test_a_real_offline_batch_is_judged_ranked_and_shown(qtbot, tmp_path, monkeypatch):
    from test_panel_engine import _end_workers

    monkeypatch.setenv("GENPLATE_ENGINE", f"{sys.executable} -m genplate.core.cli")
    root = tmp_path / "takes"
    root.mkdir()
    host = RecordingHost(root, tmp_path)
    panel = GenplatePanel(host, poll_ms=500, idle_poll_ms=1000)
    qtbot.addWidget(panel, before_close_func=lambda w: w.client.shutdown())
    panel.show()
    try:
        panel.prompt.setPlainText("gulls over a grey harbour")
        panel.draft_count.setValue(2)
        started = time.monotonic()
        panel.submit()
        qtbot.waitUntil(lambda: panel.queue.topLevelItemCount() == 2 or
                        "not sent" in panel.status.text(), timeout=60000)
        assert panel.queue.topLevelItemCount() == 2, panel.status.text()
        qtbot.waitUntil(lambda: panel.sheet_box.isVisibleTo(panel), timeout=240000)
        qtbot.waitUntil(lambda: panel.sheet_view.pixmap() is not None
                        and not panel.sheet_view.pixmap().isNull(), timeout=20000)
        assert Path(panel.last_batch["contact_sheet"]).is_file()
        assert "2 drafts ranked" in panel.sheet_note.text()
        qtbot.waitUntil(lambda: panel.takes_list.count() == 2 and all(
            "#" in panel.takes_list.item(i).text() for i in range(2)), timeout=30000)
        texts = sorted(panel.takes_list.item(i).text() for i in range(2))
        assert all(("ok" in t or "broken" in t) for t in texts), texts
        assert {t.splitlines()[-1].split()[0] for t in texts} == {"#1", "#2"}
        print(f"offline batch of 2 shown after {time.monotonic() - started:.0f} s")
    finally:
        _end_workers()
