"""A stand-in `genplate` command for panel tests: a script speaking the engine's JSON, installed
as the engine the panel runs, with a log of every call it received."""
from __future__ import annotations

import json
import sys
from pathlib import Path


class EngineStub:
    def __init__(self, root: Path, log: Path) -> None:
        self.root = root
        self.log = log

    def calls(self) -> list[dict]:
        if not self.log.exists():
            return []
        return [json.loads(line) for line in self.log.read_text().splitlines()]


def install_stub(tmp_path: Path, monkeypatch, source: str) -> EngineStub:
    """Write the stub script ``source`` and make it the engine (GENPLATE_ENGINE)."""
    script = tmp_path / "stub_genplate.py"
    script.write_text(source)
    state = tmp_path / "stub_state.json"
    monkeypatch.setenv("STUB_STATE", str(state))
    monkeypatch.setenv("GENPLATE_ENGINE", f"{sys.executable} {script}")
    root = tmp_path / "takes"
    root.mkdir()
    return EngineStub(root, state.with_suffix(".log"))
