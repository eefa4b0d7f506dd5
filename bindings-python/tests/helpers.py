"""Shared by the Python tests: a way to make a store call wait, for liveness proofs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HOLD = """
import sqlite3, sys, time
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN IMMEDIATE")
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
conn.execute("COMMIT")
"""


class WriteLockHolder:
    """Holds SQLite's write lock on a file for `seconds` from another process, so that a store's
    next write waits that long inside SQLite's busy handler: a long call that needs no large data
    and takes the path a busy engine would. (Another process, not another connection here: POSIX
    locks are per process, so a second SQLite library in this process would not see the lock.)"""

    def __init__(self, path: Path, seconds: float) -> None:
        self.process = subprocess.Popen([sys.executable, "-c", HOLD, str(path), str(seconds)], stdout=subprocess.PIPE, text=True)
        assert self.process.stdout is not None
        assert self.process.stdout.readline().strip() == "locked"

    def wait(self) -> None:
        assert self.process.wait(timeout=30) == 0
