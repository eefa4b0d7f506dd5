"""Races across processes and languages: Rust, Python and Node worker processes claim from one
store at once (a file, and a PostgreSQL database), with leases expiring mid-run.

10,000 items; each must be completed exactly once, by the holder of its last lease (fencing), and
no worker may see any error but a lost lease. Run by ./test.sh after the Python package's suite:
    python -m pytest tests/races
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections import Counter
from pathlib import Path
from typing import Dict, List

import pytest

import jetstate

ROOT = Path(__file__).resolve().parents[2]
RUST_WORKER = ROOT / "target" / "debug" / "examples" / "race_worker"
PY_WORKER = Path(__file__).with_name("worker.py")
NODE_WORKER = Path(__file__).with_name("worker.js")
NODE_ADDON = ROOT / "bindings-node" / "jetstate.linux-x64.node"
ITEMS = 10_000


def server_url() -> str:
    """A fresh store on the test server (./test.sh starts it); no skipping without one."""
    url = os.environ.get("JETSTATE_TEST_POSTGRES_URL", "")
    assert url, 'JETSTATE_TEST_POSTGRES_URL names no server: run ./test.sh, or eval "$(tests/postgres/cluster.sh start)"'
    return f"{url}{'&' if '?' in url else '?'}schema=race_{uuid.uuid4().hex}"


@pytest.mark.parametrize("engine", ["sqlite", "postgresql"])
def test_rust_python_and_node_workers_complete_each_item_exactly_once(tmp_path: Path, engine: str) -> None:
    assert RUST_WORKER.exists(), f"build the Rust worker first: cargo build --example race_worker ({RUST_WORKER})"
    assert NODE_ADDON.exists(), f"build the Node addon first: cd bindings-node && npm run build ({NODE_ADDON})"
    path = str(tmp_path / "race.db") if engine == "sqlite" else server_url()
    with jetstate.Store(path) as store:
        execution = jetstate.WorkflowExecution("race", "1")
        store.create_execution(execution)
        ids: List[str] = []
        for start in range(0, ITEMS, 1_000):
            # Expiries are retried, never dead-lettered, in this race.
            batch = [jetstate.WorkItem(execution.execution_id, f"n{n}", "race", {"n": n}, max_attempts=1_000) for n in range(start, start + 1_000)]
            ids += store.enqueue_work_items(batch)

    commands = [[str(RUST_WORKER), str(path), f"rust-{n}", str(n * 31)] for n in range(2)]
    commands += [[sys.executable, str(PY_WORKER), str(path), f"python-{n}", str(n * 17)] for n in range(2)]
    commands += [["node", str(NODE_WORKER), str(path), f"node-{n}", str(n * 13)] for n in range(2)]
    workers = [subprocess.Popen(c, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for c in commands]

    done: Dict[str, int] = {}
    completions: Counter[str] = Counter()
    by_language: Counter[str] = Counter()
    lost = 0
    for command, worker in zip(commands, workers):
        out, err = worker.communicate(timeout=900)
        assert worker.returncode == 0, f"{command[-2]} failed: {err}"
        for line in out.splitlines():
            tag, _, rest = line.partition(" ")
            if tag == "DONE":
                item_id, token = rest.split()
                done[item_id] = int(token)
                completions[item_id] += 1
                by_language[command[-2].split("-")[0]] += 1
            elif tag == "LOST":
                lost += 1
            else:
                raise AssertionError(f"unexpected line from {command[-2]}: {line!r}")

    assert lost > 0, "no lease expired mid-run: the race did not test what it should"
    assert set(by_language) == {"rust", "python", "node"}, f"every language took part: {dict(by_language)}"
    twice = [item_id for item_id, count in completions.items() if count > 1]
    assert not twice, f"{len(twice)} items completed more than once"
    assert set(done) == set(ids), f"{len(set(ids) - set(done))} items never completed"
    with jetstate.Store(path, read_only=True) as store:
        for item_id in ids:
            entry = store.get_work_item(item_id)
            assert entry is not None and entry.status == "completed"
            assert done[item_id] == entry.lease_token, f"{item_id} was completed under a lease that was no longer current"
    print(f"{engine}: {ITEMS} items: {dict(by_language)} completions, {lost} leases lost mid-run")
