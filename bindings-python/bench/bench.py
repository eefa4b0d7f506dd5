"""The Python package's benchmark: jetstate's Store and AsyncStore beside the Rust core and beside
what Python users pick today, in one run, on fresh files, at the same durability.

    bindings-python/bench/run.sh            # installs what it needs, then runs this (about 5 min)
    bindings-python/bench/run.sh --quick    # small sizes, one round, README untouched

Implementations (each run is its own process on a fresh file, WAL, the given `synchronous`):
- `Store`, `AsyncStore`: this package (AsyncStore on asyncio's default loop).
- `Rust core`: the same workload on the sync Rust `Store`, each call on the caller's thread;
  `Rust async`: through `Arc<dyn StateBackend>` on tokio (both: `bench/jetstate`, `jetstate-bench`).
- `SqliteSaver`, `AsyncSqliteSaver`: LangGraph's checkpointers (langgraph-checkpoint-sqlite), on a
  connection the harness opens and sets to the same `synchronous` (they set WAL themselves).
- `persist-queue` (`SQLiteAckQueue`) and `litequeue` (`LiteQueue`): SQLite work queues, their
  connections set to the same `synchronous` (both set WAL themselves).
- `sqlite3 floor`: the least a queue cycle can cost from Python at one commit per call: Python's
  own `sqlite3` on a minimal table (integer key, one index), insert / claim / complete, no lease,
  no tenant, no retry state. What no queue with those features can beat at the same commits.

Workloads (times are per operation):
- `append`: one event appended per call (jetstate's engine event, about 300 bytes of JSON).
- `read_history`: reading a 1,000-event history.
- `queue_cycle`: enqueue, claim, complete one item (persist-queue: put, get, ack; litequeue: put,
  pop, done).
- `checkpoint`: write one record and read it back: jetstate appends an event and reads it
  (`get_events_since`); LangGraph puts a checkpoint and reads it (`get_tuple`).

Each figure is the median of the rounds, implementations interleaved within a round.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
RUST_BENCH = ROOT / "target" / "release" / "jetstate-bench"
RESULTS = HERE / "results.json"
README = HERE.parent / "README.md"

HISTORY = 1_000

# (workload, implementations, n at full size)
PLAN: List[Tuple[str, List[str], int]] = [
    ("append", ["Store", "AsyncStore", "Rust core", "Rust async"], 2_000),
    ("read_history", ["Store", "AsyncStore", "Rust core", "Rust async"], 200),
    ("queue_cycle", ["Store", "AsyncStore", "Rust core", "Rust async", "persist-queue", "litequeue", "sqlite3 floor"], 1_000),
    ("checkpoint", ["Store", "AsyncStore", "SqliteSaver", "AsyncSqliteSaver"], 1_000),
]
RUST_WORKLOADS = {"append": "append_one_writer", "read_history": "read_history", "queue_cycle": "queue_1_worker"}


# ── The workloads' data, as the Rust benchmark writes it (bench/jetstate/src/main.rs) ─────────


def event_kind(n: int) -> Dict[str, Any]:
    return {
        "type": "node_completed",
        "node_id": f"node-{n % 10}",
        "output": {"answer": f"result {n}", "tokens": n},
        "state_patch": {"last": n},
        "duration_ms": 12,
        "gen_ai_system": "anthropic",
        "gen_ai_model": "claude",
        "input_tokens": 120,
        "output_tokens": 40,
    }


def payload(n: int) -> Dict[str, Any]:
    return {"step": n, "prompt": "summarize the findings"}


INITIAL_INPUT = {"topic": "benchmarks", "budget": 10}


# ── One measured run, in this process ────────────────────────────────────────────────────────


def timed(work: Callable[[], int]) -> Tuple[int, float]:
    started = time.perf_counter()
    ops = work()
    return ops, time.perf_counter() - started


def run_jetstate(workload: str, durability: str, path: Path, n: int, use_async: bool) -> Tuple[int, float]:
    import jetstate

    async def open_async() -> jetstate.AsyncStore:
        return await jetstate.AsyncStore.open(path, durability=durability)

    # Set up through the sync store; time only the workload.
    store = jetstate.Store(path, durability=durability)
    execution = jetstate.WorkflowExecution("bench", "1", INITIAL_INPUT)
    store.create_execution(execution)
    eid = execution.execution_id
    if workload == "read_history":
        store.append_events([jetstate.Event(eid, s, event_kind(s)) for s in range(1, HISTORY + 1)])

    def sync_work() -> int:
        if workload == "append":
            for s in range(1, n + 1):
                store.append_event(jetstate.Event(eid, s, event_kind(s)))
        elif workload == "read_history":
            for _ in range(n):
                assert len(store.get_events(eid)) == HISTORY
        elif workload == "queue_cycle":
            for k in range(n):
                store.enqueue_work_item(jetstate.WorkItem(eid, f"node-{k % 10}", "q", payload(k)))
                item = store.claim_work_item("worker", ["q"])
                store.complete_work_item(item.id)
        elif workload == "checkpoint":
            for s in range(1, n + 1):
                store.append_event(jetstate.Event(eid, s, event_kind(s)))
                assert store.get_events_since(eid, s - 1)[0].sequence == s
        return n

    if not use_async:
        return timed(sync_work)
    store.close()

    async def async_work() -> Tuple[int, float]:
        astore = await open_async()
        started = time.perf_counter()
        if workload == "append":
            for s in range(1, n + 1):
                await astore.append_event(jetstate.Event(eid, s, event_kind(s)))
        elif workload == "read_history":
            for _ in range(n):
                assert len(await astore.get_events(eid)) == HISTORY
        elif workload == "queue_cycle":
            for k in range(n):
                await astore.enqueue_work_item(jetstate.WorkItem(eid, f"node-{k % 10}", "q", payload(k)))
                item = await astore.claim_work_item("worker", ["q"])
                await astore.complete_work_item(item.id)
        elif workload == "checkpoint":
            for s in range(1, n + 1):
                await astore.append_event(jetstate.Event(eid, s, event_kind(s)))
                assert (await astore.get_events_since(eid, s - 1))[0].sequence == s
        return n, time.perf_counter() - started

    return asyncio.run(async_work())


def checkpoint_args(n: int) -> Tuple[Dict[str, Any], Dict[str, Any], Dict[str, Any]]:
    from langgraph.checkpoint.base import empty_checkpoint

    checkpoint = empty_checkpoint()
    checkpoint["id"] = f"{n:032x}"
    checkpoint["channel_values"] = {"last": event_kind(n)}
    config = {"configurable": {"thread_id": "bench", "checkpoint_ns": ""}}
    metadata = {"source": "loop", "step": n}
    return config, checkpoint, metadata


def run_langgraph(durability: str, path: Path, n: int, use_async: bool) -> Tuple[int, float]:
    import sqlite3

    if not use_async:
        from langgraph.checkpoint.sqlite import SqliteSaver

        conn = sqlite3.connect(str(path), check_same_thread=False)
        conn.execute(f"PRAGMA synchronous={durability.upper()}")
        saver = SqliteSaver(conn)
        saver.setup()

        def work() -> int:
            for k in range(1, n + 1):
                config, checkpoint, metadata = checkpoint_args(k)
                saved = saver.put(config, checkpoint, metadata, {})
                assert saver.get_tuple(saved).checkpoint["id"] == checkpoint["id"]
            return n

        return timed(work)

    async def async_work() -> Tuple[int, float]:
        import aiosqlite
        from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

        async with aiosqlite.connect(str(path)) as conn:
            await conn.execute(f"PRAGMA synchronous={durability.upper()}")
            saver = AsyncSqliteSaver(conn)
            await saver.setup()
            started = time.perf_counter()
            for k in range(1, n + 1):
                config, checkpoint, metadata = checkpoint_args(k)
                saved = await saver.aput(config, checkpoint, metadata, {})
                assert (await saver.aget_tuple(saved)).checkpoint["id"] == checkpoint["id"]
            return n, time.perf_counter() - started

    return asyncio.run(async_work())


def run_persist_queue(durability: str, path: Path, n: int) -> Tuple[int, float]:
    import persistqueue

    queue = persistqueue.SQLiteAckQueue(str(path), auto_commit=True)
    queue._putter.execute(f"PRAGMA synchronous={durability.upper()}")  # one connection: not multithreading

    def work() -> int:
        for k in range(n):
            queue.put(payload(k))
            item = queue.get(block=False)
            queue.ack(item)
        return n

    return timed(work)


def run_litequeue(durability: str, path: Path, n: int) -> Tuple[int, float]:
    from litequeue import LiteQueue

    queue = LiteQueue(str(path))
    queue.conn.execute(f"PRAGMA synchronous={durability.upper()}")

    def work() -> int:
        for k in range(n):
            queue.put(json.dumps(payload(k)))
            message = queue.pop()
            queue.done(message.message_id)
        return n

    return timed(work)


def run_floor(durability: str, path: Path, n: int) -> Tuple[int, float]:
    import sqlite3

    conn = sqlite3.connect(str(path), isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(f"PRAGMA synchronous={durability.upper()}")
    conn.execute("CREATE TABLE q (id INTEGER PRIMARY KEY, payload TEXT NOT NULL, status INTEGER NOT NULL)")
    conn.execute("CREATE INDEX q_pending ON q (id) WHERE status = 0")

    def work() -> int:
        for k in range(n):
            conn.execute("INSERT INTO q (payload, status) VALUES (?, 0)", (json.dumps(payload(k)),))
            (item,) = conn.execute("UPDATE q SET status = 1 WHERE id = (SELECT id FROM q WHERE status = 0 ORDER BY id LIMIT 1) RETURNING id").fetchone()
            conn.execute("UPDATE q SET status = 2 WHERE id = ?", (item,))
        return n

    return timed(work)


def run_one(implementation: str, workload: str, durability: str, directory: Path, n: int) -> Tuple[int, float]:
    path = directory / "bench.db"
    if implementation in ("Store", "AsyncStore"):
        return run_jetstate(workload, durability, path, n, implementation == "AsyncStore")
    if implementation in ("SqliteSaver", "AsyncSqliteSaver"):
        return run_langgraph(durability, path, n, implementation == "AsyncSqliteSaver")
    if implementation == "persist-queue":
        return run_persist_queue(durability, directory / "pq", n)
    if implementation == "litequeue":
        return run_litequeue(durability, path, n)
    if implementation == "sqlite3 floor":
        return run_floor(durability, path, n)
    raise SystemExit(f"unknown implementation {implementation}")


# ── The driver ───────────────────────────────────────────────────────────────────────────────


def measure(implementation: str, workload: str, durability: str, n: int) -> float:
    """Seconds per operation of one run, in a fresh process on a fresh directory."""
    with tempfile.TemporaryDirectory(prefix="jetstate-pybench-") as directory:
        if implementation.startswith("Rust"):
            side = "core" if implementation == "Rust core" else "jetstate"
            command = [str(RUST_BENCH), side, RUST_WORKLOADS[workload], durability, directory, str(n)]
        else:
            command = [sys.executable, __file__, "--one", implementation, workload, durability, directory, str(n)]
        out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
        result = json.loads(out.strip().splitlines()[-1])
        return result["seconds"] / result["ops"]


def fmt_us(seconds: Optional[float]) -> str:
    return "" if seconds is None else f"{seconds * 1e6:,.1f} us"


def ratio(a: Optional[float], b: Optional[float]) -> str:
    return "" if a is None or b is None else f"{a / b:.2f}"


def report(results: Dict[str, Dict[str, Dict[str, float]]], rounds: int) -> str:
    """The README section: the machine, the command, a table per durability, the ratios."""
    cpu = "unknown CPU"
    try:
        cpu = next(l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name"))
    except (OSError, StopIteration):
        pass
    lines = [
        f"Measured by `bindings-python/bench/run.sh` on {date.today().isoformat()}: {os.cpu_count()} cores ({cpu}), "
        f"Python {platform.python_version()}, Linux {platform.release()}. Each figure is the median of {rounds} "
        "interleaved rounds, each run a fresh process on a fresh file; the machine is shared and noisy, so "
        "compare ratios within a table. Workloads and implementations are described in `bench/bench.py`.",
        "",
    ]
    implementations = ["Store", "AsyncStore", "Rust core", "Rust async", "SqliteSaver", "AsyncSqliteSaver", "persist-queue", "litequeue", "sqlite3 floor"]
    for durability, table in results.items():
        lines += [f"**synchronous={durability.upper()}** (time per operation)", ""]
        lines.append("| workload | " + " | ".join(implementations) + " |")
        lines.append("| --- |" + " ---: |" * len(implementations))
        for workload, row in table.items():
            lines.append(f"| {workload} | " + " | ".join(fmt_us(row.get(impl)) for impl in implementations) + " |")
        lines += ["", "| workload | AsyncStore / Rust async | AsyncStore / Rust core | Store / Rust core | speed-up of AsyncStore over AsyncSqliteSaver | of Store over SqliteSaver | of Store over persist-queue | of Store over litequeue | of the floor over persist-queue |",
                  "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
        for workload, row in table.items():
            get = row.get
            lines.append(
                f"| {workload} | {ratio(get('AsyncStore'), get('Rust async'))} | {ratio(get('AsyncStore'), get('Rust core'))} | "
                f"{ratio(get('Store'), get('Rust core'))} | {ratio(get('AsyncSqliteSaver'), get('AsyncStore'))} | "
                f"{ratio(get('SqliteSaver'), get('Store'))} | {ratio(get('persist-queue'), get('Store'))} | "
                f"{ratio(get('litequeue'), get('Store'))} | {ratio(get('persist-queue'), get('sqlite3 floor'))} |"
            )
        lines.append("")
    return "\n".join(lines)


def write_readme(section: str) -> None:
    text = README.read_text()
    start, end = "<!-- bench:start -->", "<!-- bench:end -->"
    if start not in text:
        text = text.rstrip("\n") + f"\n\n{start}\n{end}\n"
    before, rest = text.split(start, 1)
    _, after = rest.split(end, 1)
    README.write_text(f"{before}{start}\n{section}\n{end}{after}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--one", nargs=5, metavar=("IMPL", "WORKLOAD", "DURABILITY", "DIR", "N"), help=argparse.SUPPRESS)
    parser.add_argument("--quick", action="store_true", help="a tenth of the sizes, one round; the README is left alone")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--report-only", action="store_true", help="rewrite the README section from results.json")
    args = parser.parse_args()

    if args.one:
        implementation, workload, durability, directory, n = args.one
        ops, seconds = run_one(implementation, workload, durability, Path(directory), int(n))
        print(json.dumps({"implementation": implementation, "workload": workload, "ops": ops, "seconds": seconds}))
        return

    if args.report_only:
        saved = json.loads(RESULTS.read_text())
        write_readme(report(saved["results"], saved["rounds"]))
        return

    rounds = 1 if args.quick else args.rounds
    samples: Dict[str, Dict[str, Dict[str, List[float]]]] = {}
    for round_index in range(rounds):
        for durability in ("full", "normal"):
            for workload, implementations, n in PLAN:
                n = max(10, n // 10) if args.quick else n
                # Rotate the order each round, so that no implementation always runs first.
                shift = round_index % len(implementations)
                for implementation in implementations[shift:] + implementations[:shift]:
                    per_op = measure(implementation, workload, durability, n)
                    samples.setdefault(durability, {}).setdefault(workload, {}).setdefault(implementation, []).append(per_op)
                    print(f"round {round_index + 1} {durability:6} {workload:13} {implementation:17} {per_op * 1e6:10.1f} us", flush=True)
    results = {
        durability: {workload: {impl: statistics.median(v) for impl, v in row.items()} for workload, row in table.items()}
        for durability, table in samples.items()
    }
    section = report(results, rounds)
    print()
    print(section)
    if not args.quick:
        RESULTS.write_text(json.dumps({"rounds": rounds, "results": results, "samples": samples}, indent=1) + "\n")
        write_readme(section)


if __name__ == "__main__":
    main()
