"""Crash safety through the bindings: a Python and a Node process each append events and cycle the
queue on one file (durability full), printing each call once it returned, and are killed with
SIGKILL at random instants, over and over. After every kill the file passes `PRAGMA
integrity_check`, opens, and holds every acknowledged event and item; sequences have no gap; every
acknowledged completion is still completed. (The Rust core's own crash test is core/tests/crash.rs;
the browser's is bindings-wasm/test/crash.test.cjs.)

    python -m pytest tests/crash
"""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO, List, Set

import jetstate

HERE = Path(__file__).resolve().parent
KILLS = int(os.environ.get("JETSTATE_BINDING_KILLS", "40"))


class Acknowledged:
    """What the writers reported before they died."""

    def __init__(self) -> None:
        self.events = 0
        self.enqueued: Set[str] = set()
        self.completed: Set[str] = set()
        self.lock = threading.Lock()

    def read(self, stream: IO[str]) -> None:
        for line in stream:
            what, _, value = line.strip().partition(" ")
            with self.lock:
                if what == "event":
                    self.events = max(self.events, int(value))
                elif what == "enqueued":
                    self.enqueued.add(value)
                elif what == "completed":
                    self.completed.add(value)


def verify(path: Path, execution_id: str, acknowledged: Acknowledged, when: str) -> None:
    raw = sqlite3.connect(path)
    try:
        assert raw.execute("PRAGMA integrity_check").fetchone()[0] == "ok", when
    finally:
        raw.close()
    with jetstate.Store(path) as store:
        sequences = [event.sequence for event in store.get_events(execution_id)]
        assert sequences == list(range(1, len(sequences) + 1)), f"{when}: a gap in the sequences"
        assert len(sequences) >= acknowledged.events, f"{when}: {len(sequences)} events, {acknowledged.events} acknowledged"
        status = {entry.item.id: entry.status for entry in store.list_work_items(None, 1_000_000)}
        lost = acknowledged.enqueued - status.keys()
        assert not lost, f"{when}: acknowledged items lost: {sorted(lost)[:3]}"
        undone = [item for item in acknowledged.completed if status[item] != "completed"]
        assert not undone, f"{when}: acknowledged completions undone: {undone[:3]}"


def test_python_and_node_writers_killed_mid_write_lose_nothing_acknowledged(tmp_path: Path) -> None:
    path = tmp_path / "crash.db"
    with jetstate.Store(path) as store:
        execution = jetstate.WorkflowExecution("crash", "1")
        store.create_execution(execution)
    writers: List[List[str]] = [
        [sys.executable, str(HERE / "writer.py"), str(path), execution.execution_id],
        ["node", str(HERE / "writer.js"), str(path), execution.execution_id],
    ]
    acknowledged = Acknowledged()
    rng = random.Random(7)
    progress = 0
    for kill in range(KILLS):
        command = writers[kill % 2]
        child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        reader = threading.Thread(target=acknowledged.read, args=(child.stdout,))
        reader.start()
        # Past the start-up (an interpreter, a module load), then a random instant mid-write.
        deadline = time.monotonic() + 10
        while acknowledged.events <= progress and child.poll() is None and time.monotonic() < deadline:
            time.sleep(0.005)
        time.sleep(rng.uniform(0.0, 0.08))
        assert child.poll() is None, f"the writer {command[0]} died by itself: {child.stderr.read() if child.stderr else ''}"
        child.send_signal(signal.SIGKILL)
        child.wait()
        reader.join()
        verify(path, execution.execution_id, acknowledged, f"kill {kill + 1} ({Path(command[1]).name})")
        assert acknowledged.events > progress, f"kill {kill + 1}: the writer made no progress"
        progress = acknowledged.events
