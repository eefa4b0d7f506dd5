"""The PostgreSQL server killed under Rust, Python and Node workers, again and again.

A cluster of this test's own (tests/postgres/cluster.sh, so that the other suites' server stays
up): 10,000 items, workers in the three languages with 50 ms leases (the race of
test_cross_language.py, in its `outages` mode), and the server stopped with `pg_ctl stop -m
immediate` (a crash: recovery runs at the next start) at 20 random instants of the run, then
started again. What must hold:
  * every worker ends by itself, with status 0: the errors it met were retryable DATABASE errors
    (or an outcome said to be unknown), never a panic, a hang, or another kind;
  * every acknowledged completion is there, under the lease that made it (`DONE id token`);
  * every item ends completed, none completed twice, whatever the kills interrupted.
"""

from __future__ import annotations

import os
import random
import shlex
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Dict, Iterator, List

import pytest

import jetstate

ROOT = Path(__file__).resolve().parents[2]
RUST_WORKER = ROOT / "target" / "debug" / "examples" / "race_worker"
PY_WORKER = Path(__file__).with_name("worker.py")
NODE_WORKER = Path(__file__).with_name("worker.js")
ITEMS = 10_000
KILLS = 20


class Cluster:
    """A throwaway cluster, stopped and started at will."""

    def __init__(self) -> None:
        started = subprocess.run([str(ROOT / "tests/postgres/cluster.sh"), "start"], capture_output=True, text=True, check=True)
        self.env = dict(line.removeprefix("export ").split("=", 1) for line in started.stdout.splitlines())
        self.env = {key: shlex.split(value)[0] for key, value in self.env.items()}
        self.url = self.env["JETSTATE_TEST_POSTGRES_URL"]
        self.dir = self.env["JETSTATE_TEST_POSTGRES_DIR"]

    def pg_ctl(self, *args: str) -> None:
        command = [f"{self.env['JETSTATE_TEST_POSTGRES_BIN']}/pg_ctl", "-D", f"{self.dir}/data", *args]
        if os.geteuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, check=True, capture_output=True)

    def crash(self) -> None:
        self.pg_ctl("stop", "-m", "immediate", "-w")

    def start(self) -> None:
        self.pg_ctl("start", "-w", "-l", f"{self.dir}/server.log")

    def remove(self) -> None:
        subprocess.run([str(ROOT / "tests/postgres/cluster.sh"), "stop", self.dir], check=False)


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    made = Cluster()
    try:
        yield made
    finally:
        made.remove()


def test_workers_in_three_languages_ride_out_twenty_server_crashes(cluster: Cluster) -> None:
    assert RUST_WORKER.exists(), f"build the Rust worker first: cargo build --example race_worker ({RUST_WORKER})"
    url = f"{cluster.url}?schema=restarts"
    with jetstate.Store(url) as store:
        execution = jetstate.WorkflowExecution("restarts", "1")
        store.create_execution(execution)
        ids: List[str] = []
        for start in range(0, ITEMS, 1_000):
            batch = [jetstate.WorkItem(execution.execution_id, f"n{n}", "race", {"n": n}, max_attempts=1_000) for n in range(start, start + 1_000)]
            ids += store.enqueue_work_items(batch)

    commands = [[str(RUST_WORKER), url, f"rust-{n}", str(n * 31), "outages"] for n in range(2)]
    commands += [[sys.executable, str(PY_WORKER), url, f"python-{n}", str(n * 17), "outages"] for n in range(2)]
    commands += [["node", str(NODE_WORKER), url, f"node-{n}", str(n * 13), "outages"] for n in range(2)]
    workers = [subprocess.Popen(c, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for c in commands]

    chance = random.Random(int(os.environ.get("JETSTATE_TEST_SEED", "18")))
    for kill in range(KILLS):
        time.sleep(chance.uniform(0.05, 0.4))
        ended = [(c[-3], w.returncode, w.stderr.read() if w.stderr else "") for c, w in zip(commands, workers) if w.poll() is not None]
        assert not ended, f"workers ended before kill {kill + 1} (the run must outlast the kills): {ended}"
        cluster.crash()
        time.sleep(chance.uniform(0.0, 0.3))
        cluster.start()

    done: Dict[str, int] = {}
    unknown: Counter[str] = Counter()
    completions: Counter[str] = Counter()
    by_language: Counter[str] = Counter()
    for command, worker in zip(commands, workers):
        out, err = worker.communicate(timeout=600)
        assert worker.returncode == 0, f"{command[-3]} failed: {err}"
        for line in out.splitlines():
            tag, _, rest = line.partition(" ")
            if tag == "DONE":
                item_id, token = rest.split()
                done[item_id] = int(token)
                completions[item_id] += 1
                by_language[command[-3].split("-")[0]] += 1
            elif tag == "UNKNOWN":
                unknown[rest.split()[0]] += 1
            elif tag != "LOST":
                raise AssertionError(f"unexpected line from {command[-3]}: {line!r}")

    assert set(by_language) == {"rust", "python", "node"}, f"every language took part: {dict(by_language)}"
    twice = [item_id for item_id, count in completions.items() if count > 1]
    assert not twice, f"{len(twice)} items acknowledged as completed more than once"
    with jetstate.Store(url, read_only=True) as store:
        for item_id in ids:
            entry = store.get_work_item(item_id)
            assert entry is not None and entry.status == "completed", f"{item_id}: {entry}"
            if item_id in done:
                assert entry.lease_token == done[item_id], f"{item_id}: an acknowledged completion is not there"
        assert store.summary()["queues"]["race"]["completed"] == ITEMS
    print(f"{ITEMS} items through {KILLS} crashes: {dict(by_language)} acknowledged, {sum(unknown.values())} outcomes unknown")
