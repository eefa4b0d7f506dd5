#!/usr/bin/env python3
"""The queue's features measured (bench/jetstate/src/bin/queue_features.rs holds the workloads), on
SQLite at both durabilities and on PostgreSQL, and written into the queue features section of
BENCHMARKS.md with the ratios the queue's issue asks about:

    python3 bench/queue_features.py            # the full run
    python3 bench/queue_features.py --quick    # small sizes, one repetition: a smoke test
    python3 bench/queue_features.py --report-only

Each run is its own process on a fresh file (or schema); the workloads' repetitions are interleaved
so that the machine's noise falls on all alike, and the median of each figure is reported.
PostgreSQL is a cluster of the run's own unless JETSTATE_BENCH_POSTGRES_URL names one.
"""

import argparse
import datetime
import json
import os
import statistics
import subprocess
import sys
import tempfile
import uuid

from postgres import psql, server

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULTS = os.path.join(ROOT, "bench", "queue-features-results.json")
BEGIN, END = "<!-- queue features: written by bench/queue_features.py -->", "<!-- /queue features -->"

# workload: (size, quick size)
SIZES = {
    "drain_single": (2_000, 200),
    "drain_batch": (20_000, 2_000),
    "claims": (2_000, 200),
    "claim_priorities_1k": (1_000, 1_000),
    "claim_priorities_1m": (1_000_000, 20_000),
    "wait_pickup": (300, 30),
    "soak": (1_000_000, 20_000),
}
# (engine, durability): the workloads run there.
PLACES = {
    ("sqlite", "full"): ["drain_single", "drain_batch", "claims", "wait_pickup"],
    ("sqlite", "normal"): [
        "drain_single", "drain_batch", "claims",
        "claim_priorities_1k", "claim_priorities_1m", "wait_pickup", "soak",
    ],
    ("postgresql", "full"): ["drain_single", "drain_batch", "claims", "wait_pickup"],
    ("postgresql", "normal"): ["claim_priorities_1k", "claim_priorities_1m", "soak"],
}


def build(debug):
    profile = [] if debug else ["--release"]
    subprocess.run(["cargo", "build", "--quiet", "-p", "jetstate-bench", "--bin", "queue_features"] + profile, cwd=ROOT, check=True)
    return os.path.join(ROOT, "target", "debug" if debug else "release", "queue_features")


def run(binary, workload, durability, place, n):
    """One run in its own process, on a fresh file in the folder `place` or a fresh schema of the
    server at `place` (dropped afterwards: a run's leftovers would keep autovacuum busy in the next)."""
    name = "claim_priorities" if workload.startswith("claim_priorities") else workload
    server_url, schema = place, None
    if place.startswith("postgres"):
        schema = f"qf_{uuid.uuid4().hex}"
        place = f"{server_url}{'&' if '?' in server_url else '?'}schema={schema}"
    try:
        done = subprocess.run([binary, name, durability, place, str(n)], capture_output=True, text=True, timeout=3600)
    finally:
        if schema:
            psql(server_url, f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    if done.returncode != 0:
        raise SystemExit(f"{workload} at {durability} on {place} failed:\n{done.stdout}{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])["figures"]


def measure(binary, reps, quick, url):
    runs = {}
    with tempfile.TemporaryDirectory() as folder:
        for rep in range(reps):
            for (engine, durability), workloads in PLACES.items():
                if engine == "postgresql" and url is None:
                    continue
                place = folder if engine == "sqlite" else url
                for workload in workloads:
                    # One soak (its figures are sizes, not times).
                    if workload == "soak" and rep > 0:
                        continue
                    n = SIZES[workload][1 if quick else 0]
                    figures = run(binary, workload, durability, place, n)
                    runs.setdefault(f"{engine}/{durability}/{workload}", []).append(figures)
                    print(f"rep {rep + 1}/{reps}: {engine} {durability} {workload}: {figures}", file=sys.stderr)
    results = {}
    for key, each in runs.items():
        results[key] = {name: statistics.median(r[name] for r in each) for name in each[0]}
    return results


def growth(engine, soak):
    """Whether the store stopped growing: the largest size of the second half of the soak against
    the largest of the first (a server's store rises and falls as vacuum comes and goes)."""
    tenths = soak["bytes_by_tenth"]
    first, second = max(tenths[: len(tenths) // 2]), max(tenths[len(tenths) // 2 :])
    change = second / first - 1 if first else 0
    if change <= 0.10:
        return (f"On {engine} the store stopped growing: its largest size in the second half is {change:+.0%} against the "
                f"first half's (what is freed is reused).")
    return f"On {engine} the store still grew: its largest size in the second half is {change:+.0%} against the first half's."


def section(results, meta):
    get = lambda engine, durability, workload, figure: results.get(f"{engine}/{durability}/{workload}", {}).get(figure)
    lines = [
        BEGIN,
        "## The queue's features",
        "",
        f"Generated by `python3 bench/queue_features.py` on {meta['date']}: {meta['machine']}; PostgreSQL "
        f"{meta['server']} on the same machine. Median of {meta['reps']} interleaved runs, each its own process on a "
        "fresh file or schema (the workloads: `bench/jetstate/src/bin/queue_features.rs`).",
        "",
        "| engine | durability | drain, one per call | drain, 100 per call | batch over single | claim, open | limited | per partition | rate limited | pickup p50 / p99 (waiting claim) |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for (engine, durability), workloads in PLACES.items():
        if "drain_single" not in workloads or get(engine, durability, "drain_single", "jobs_per_s") is None:
            continue
        single = get(engine, durability, "drain_single", "jobs_per_s")
        batch = get(engine, durability, "drain_batch", "jobs_per_s")
        open_ = get(engine, durability, "claims", "open_us")
        ratio = lambda limit: get(engine, durability, "claims", f"{limit}_ratio")
        lines.append(
            f"| {engine} | {durability} | {single:,.0f} jobs/s | {batch:,.0f} jobs/s | {batch / single:.1f}x | "
            f"{open_:.0f} us | {ratio('limited'):.2f}x | {ratio('partitioned'):.2f}x | "
            f"{ratio('rated'):.2f}x | {get(engine, durability, 'wait_pickup', 'p50_ms'):.2f} / "
            f"{get(engine, durability, 'wait_pickup', 'p99_ms'):.2f} ms |"
        )
    lines += [
        "",
        "- **drain**: a backlog drained by one worker, a claim and a complete per item (two commits per item), or a "
        "`claim_batch` and a `complete_batch` of 100 (two commits per 100 items). The aim: batches at least 5x single "
        "calls at `full` on SQLite.",
        "- **claim, limited, per partition, rate limited**: one claim's time (a cycle of enqueue, claim, complete; the "
        "claim timed) on an open queue, and the ratio on a queue with a concurrency limit, a per-partition limit (8 "
        "partitions), a rate limit (none of them ever refusing): what counting under the queue row's lock costs. The "
        "four queues take turns in one process, round after round, so that the machine's noise falls on all alike; "
        "each ratio is the median of the runs' own ratios. The aim: at most 1.3x.",
        "- **pickup**: a worker waiting in `claim_wait` in one thread, an enqueue in another of the same process (the "
        "worker idle before each): from the enqueue call to the claim's return, the enqueue's commit included. The "
        "aim: within 5 ms in-process.",
    ]
    flat = []
    for engine, durability in [("sqlite", "normal"), ("postgresql", "normal")]:
        small = get(engine, durability, "claim_priorities_1k", "us_per_claim")
        large = get(engine, durability, "claim_priorities_1m", "us_per_claim")
        if small and large:
            flat.append(f"{engine}: {small:.0f} us with 1,000 pending, {large:.0f} us with 1,000,000 ({large / small:.2f}x)")
    if flat:
        lines += ["", "**Claim cost against queue depth, priorities spread over 100 levels** (durability normal): "
                  + "; ".join(flat) + "."]
    soaks = []
    for engine in ["sqlite", "postgresql"]:
        soak = results.get(f"{engine}/normal/soak")
        if soak:
            soaks.append(
                f"{engine}: {soak['cycles']:,.0f} cycles at {soak['cycles_per_s']:,.0f} a second; "
                f"{soak['bytes_at_tenth'] / 2**20:.1f} MiB a tenth of the way, {soak['bytes_at_half'] / 2**20:.1f} MiB half "
                f"way, {soak['bytes_at_end'] / 2**20:.1f} MiB at the end (by tenths: "
                + ", ".join(f"{b / 2**20:.1f}" for b in soak['bytes_by_tenth']) + " MiB), "
                f"{soak['completed_items_kept']:,.0f} completed items kept"
            )
    if soaks:
        lines += [
            "",
            "**Soak with retention** (enqueue, claim and complete in batches of 100, durability normal, a policy that "
            "keeps the last 10,000 finished items, applied by a reclaim after every batch): " + "; ".join(soaks) + ". "
            + " ".join(growth(engine, results[f"{engine}/normal/soak"]) for engine in ["sqlite", "postgresql"]
                       if results.get(f"{engine}/normal/soak"))
            + (" On PostgreSQL every write leaves a dead row version until vacuum reclaims it: the queue's table "
               "asks autovacuum to come once 5,000 have gathered, and how often it looks at all is the server's "
               "`autovacuum_naptime` (a minute by default), so the plateau holds about a minute of the soak's writes."
               if results.get("postgresql/normal/soak") else ""),
        ]
    single = get("sqlite", "normal", "drain_single", "jobs_per_s")
    batch = get("sqlite", "normal", "drain_batch", "jobs_per_s")
    if single and batch:
        lines += [
            "",
            f"**Beside the SQLite queues' published figures** (their hardware, not this machine's 2 shared cores): goqite "
            f"publishes 12.5k to 18.5k messages a second (send, receive and delete, 1 to 16 in parallel, an M3 Ultra "
            f"MacBook Pro) and plainjob 15k jobs a second (hardware not given). jetstate here, durability normal, one "
            f"worker: {single:,.0f} jobs a second claimed and completed one per call, {batch:,.0f} in batches of 100.",
        ]
    lines.append(END)
    return "\n".join(lines) + "\n"


def write(results, meta):
    path = os.path.join(ROOT, "BENCHMARKS.md")
    text = open(path).read()
    block = section(results, meta)
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        text = head + block + rest.split(END, 1)[1].lstrip("\n")
    else:
        text = text.rstrip("\n") + "\n\n" + block
    with open(path, "w") as f:
        f.write(text)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--debug", action="store_true", help="the debug build (a smoke test)")
    parser.add_argument("--report-only", action="store_true")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--out", default=None, help="write the section here instead of BENCHMARKS.md")
    args = parser.parse_args()
    if args.report_only:
        with open(RESULTS) as f:
            saved = json.load(f)
        write(saved["results"], saved["meta"])
        return
    binary = build(args.debug)
    reps = 1 if args.quick else args.reps
    url, cluster = server()
    try:
        version = subprocess.run(["psql", url, "-XAtqc", "SHOW server_version"], capture_output=True, text=True, check=True).stdout.strip()
        results = measure(binary, reps, args.quick, url)
    finally:
        if cluster:
            subprocess.run([os.path.join(ROOT, "tests/postgres/cluster.sh"), "stop", cluster], check=False)
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")), "?")
    meta = {"date": datetime.date.today().isoformat(), "machine": f"{os.cpu_count()} cores ({cpu})",
            "server": version.split()[0], "reps": reps}
    if args.out:
        with open(args.out, "w") as f:
            f.write(section(results, meta))
        return
    with open(RESULTS, "w") as f:
        json.dump({"meta": meta, "results": results}, f, indent=1)
    write(results, meta)
    print("wrote the queue features section of BENCHMARKS.md and bench/queue-features-results.json")


if __name__ == "__main__":
    main()
