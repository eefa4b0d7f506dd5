#!/usr/bin/env python3
"""The queue comparison: jetstate on PostgreSQL against the PostgreSQL queues users pick today,
each driven as its documentation says, with 1 and 8 workers, in one run on one server; writes the
queues section of BENCHMARKS.md.

    python3 bench/queues.py            # the full run, on a cluster of its own
    python3 bench/queues.py --quick    # small sizes, one repetition: a smoke test
    python3 bench/queues.py --report-only

In Node: jetstate (bindings-node), pg-boss, graphile-worker (bench/queues/node.mjs); in Python:
jetstate (AsyncStore), PgQueuer (bench/queues/python.py). Each run is its own process on a fresh
database, dropped afterwards; the libraries' runs are interleaved so that the machine's noise
falls on all alike, and the median of each figure is reported. Every library commits with
`synchronous_commit = on` (the server's default; jetstate's durability `full`). What each figure
is: bench/queues/measure.mjs.
"""

import argparse
import datetime
import json
import os
import statistics
import subprocess
import sys
import uuid

from postgres import psql, server

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HERE = os.path.join(ROOT, "bench", "queues")
RESULTS = os.path.join(ROOT, "bench", "queues-results.json")
BEGIN, END = "<!-- queues: written by bench/queues.py -->", "<!-- /queues -->"
VENV = os.path.join(ROOT, "target", "bench-queues-venv")
PYTHON_PACKAGES = ["pgqueuer==1.6.0", "asyncpg==0.32.0"]

LIBRARIES = [
    ("node", "jetstate"),
    ("node", "pg-boss"),
    ("node", "graphile-worker"),
    ("python", "jetstate"),
    ("python", "pgqueuer"),
]
WORKERS = [1, 8]

HOW = {
    ("node", "jetstate"): "the Node package as its README's worker runs: `claimWait` (LISTEN/NOTIFY wake-ups, up to "
    "10 items per claim), each handled, then `completeBatch` (fenced, one commit), durability `full`; `enqueue` per job",
    ("node", "pg-boss"): "`work()` with `localConcurrency` = workers, LISTEN/NOTIFY on (`useListenNotify`, queue "
    "`notify`), a batch of 10 per fetch with `burstWhenBatchFull` (its way to drain a backlog: one job per fetch "
    "waits out the polling interval between fetches)",
    ("node", "graphile-worker"): "`run()` with `concurrency` = workers, its default LISTEN/NOTIFY, `addJob` per job",
    ("python", "jetstate"): "`AsyncStore` as in Node: `claim_wait` (up to 10) and `complete_batch`, durability "
    "`full`; `enqueue` per job",
    ("python", "pgqueuer"): "one `QueueManager` per worker on its own connection, its defaults (LISTEN/NOTIFY, "
    "a batch of 10 per dequeue; completions are logged through a buffer, flushed after the handler returns)",
}


def prepare():
    """The Node packages, the Node addon and a virtual environment with the Python packages."""
    subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=HERE, check=True)
    node = os.path.join(ROOT, "bindings-node")
    if not any(name.endswith(".node") for name in os.listdir(node)):
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=node, check=True)
        subprocess.run(["node", "scripts/build.js"], cwd=node, check=True)
    python = os.path.join(VENV, "bin", "python")
    if not os.path.exists(python):
        subprocess.run([sys.executable, "-m", "venv", VENV], check=True)
    pip = [python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    subprocess.run(pip + PYTHON_PACKAGES + ["maturin==1.16.0"], check=True)
    wheels = os.path.join(ROOT, "target", "bench-queues-wheels")
    subprocess.run(["rm", "-rf", wheels], check=True)
    env = dict(os.environ, CARGO_TARGET_DIR=os.path.join(ROOT, "target"))
    wheel = [python, "-m", "pip", "wheel", "--quiet", "--disable-pip-version-check", "--no-deps", "-w", wheels]
    subprocess.run(wheel + [os.path.join(ROOT, "bindings-python")], check=True, env=env)
    built = [os.path.join(wheels, name) for name in os.listdir(wheels) if name.startswith("jetstate-")]
    subprocess.run(pip + ["--force-reinstall", "--no-deps"] + built, check=True)
    return python


def run_one(python, url, language, library, workers, jobs, rate):
    database = f"bench_q_{uuid.uuid4().hex}"
    base = url.split("?", 1)[0].rsplit("/", 1)[0]
    query = "?" + url.split("?", 1)[1] if "?" in url else ""
    # Plain TCP for every library: the test cluster offers TLS, which some clients take by default
    # (libpq's and asyncpg's sslmode=prefer, jetstate's too) and others never (node-postgres).
    if "sslmode=" not in query:
        query += ("&" if query else "?") + "sslmode=disable"
    psql(url, f"CREATE DATABASE {database}")
    try:
        script = ["node", os.path.join(HERE, "node.mjs")] if language == "node" else [python, os.path.join(HERE, "python.py")]
        done = subprocess.run(
            script + [library, f"{base}/{database}{query}", str(workers), str(jobs), str(rate)],
            capture_output=True, text=True, timeout=900,
        )
        if done.returncode != 0:
            raise SystemExit(f"{language} {library} with {workers} workers failed:\n{done.stdout}{done.stderr}")
        return json.loads(done.stdout.strip().splitlines()[-1])
    finally:
        psql(url, f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")


def measure(python, url, reps, jobs, rate):
    runs = {}
    for rep in range(reps):
        for workers in WORKERS:
            for language, library in LIBRARIES:
                result = run_one(python, url, language, library, workers, jobs, rate)
                runs.setdefault(f"{language}/{library}/{workers}", []).append(result)
                print(f"rep {rep + 1}/{reps}: {language} {library} x{workers}: {result['drain_per_s']:,.0f} jobs/s, "
                      f"p99 {result['pickup_ms']['p99']:.1f} ms", file=sys.stderr)
    results = {}
    for key, each in runs.items():
        results[key] = {
            "enqueue_per_s": statistics.median(r["enqueue_per_s"] for r in each),
            "drain_per_s": statistics.median(r["drain_per_s"] for r in each),
            "p50_ms": statistics.median(r["pickup_ms"]["p50"] for r in each),
            "p99_ms": statistics.median(r["pickup_ms"]["p99"] for r in each),
            "samples": each[0]["pickup_ms"]["samples"],
            "jobs": each[0]["jobs"],
        }
    return results


def what_it_says(results):
    """Where jetstate leads and where it trails, said from the figures."""
    ahead, behind = [], []
    for workers in WORKERS:
        for language, library in LIBRARIES:
            ours, theirs = results.get(f"{language}/jetstate/{workers}"), results.get(f"{language}/{library}/{workers}")
            if library == "jetstate" or ours is None or theirs is None:
                continue
            at = f"{library} at {workers}"
            for figure, better in [("jobs/s", ours["drain_per_s"] > theirs["drain_per_s"]),
                                   ("pickup p99", ours["p99_ms"] < theirs["p99_ms"])]:
                (ahead if better else behind).append(f"{figure} against {at}")
    said = ("What the figures say: jetstate's workers here, like pg-boss's and PgQueuer's, take up to ten jobs per "
            "fetch and settle them together (graphile-worker takes one per fetch); jetstate's settlements are fenced "
            "by each lease's token (a worker whose lease was lost, and whose item another took, settles nothing), "
            "which none of the others do. All four wake idle workers by LISTEN/NOTIFY. ")
    said += f"jetstate is ahead in {len(ahead)} of {len(ahead) + len(behind)} comparisons"
    said += f"; behind in: {'; '.join(behind)}." if behind else ": all of them."
    return said


def section(results, meta):
    lines = [
        BEGIN,
        "## PostgreSQL queues side by side",
        "",
        f"Generated by `python3 bench/queues.py` on {meta['date']}: {meta['machine']}, PostgreSQL {meta['server']} on the "
        f"same machine, `synchronous_commit = on` and plain TCP on loopback (`sslmode=disable`) for all. Median of {meta['reps']} interleaved runs, each its own process "
        "on a fresh database. Per library and worker count:",
        "",
        f"- **enqueue/s**: {meta['jobs']:,} jobs enqueued one per call, as many callers at once as there are workers;",
        "- **jobs/s**: that backlog claimed, handled (an empty handler) and completed, from the first pickup to the last;",
        f"- **pickup p50 / p99**: from the enqueue call to the handler's start, {meta['rate']} jobs per second to idle "
        "workers (each enqueue's own commit included).",
        "",
        "| language | library | workers | enqueue/s | jobs/s | pickup p50 | pickup p99 |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for workers in WORKERS:
        for language, library in LIBRARIES:
            r = results.get(f"{language}/{library}/{workers}")
            if r is None:
                continue
            name = f"**{library}**" if library == "jetstate" else library
            lines.append(
                f"| {language} | {name} | {workers} | {r['enqueue_per_s']:,.0f} | {r['drain_per_s']:,.0f} | "
                f"{r['p50_ms']:.1f} ms | {r['p99_ms']:.1f} ms |"
            )
    lines += ["", "jetstate against each library in its language (jobs/s: jetstate over it, above 1 is ahead; p99: "
              "jetstate over it, below 1 is ahead):", ""]
    for workers in WORKERS:
        for language, library in LIBRARIES:
            ours, theirs = results.get(f"{language}/jetstate/{workers}"), results.get(f"{language}/{library}/{workers}")
            if library == "jetstate" or ours is None or theirs is None:
                continue
            lines.append(
                f"- {workers} worker{'s' if workers > 1 else ''}, {library}: jobs/s {ours['drain_per_s'] / theirs['drain_per_s']:.2f}x, "
                f"enqueue/s {ours['enqueue_per_s'] / theirs['enqueue_per_s']:.2f}x, pickup p99 {ours['p99_ms'] / theirs['p99_ms']:.2f}x"
            )
    lines += ["", "How each is driven (each as its documentation says):", ""]
    lines += [f"- {language} {library}: {how}" for (language, library), how in HOW.items()]
    lines += [
        "",
        "",
        what_it_says(results),
        END,
    ]
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
    parser.add_argument("--quick", action="store_true", help="small sizes, one repetition")
    parser.add_argument("--report-only", action="store_true")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--jobs", type=int, default=5000)
    parser.add_argument("--rate", type=int, default=100, help="jobs per second in the pickup measurement")
    parser.add_argument("--out", default=None, help="write the section here instead of BENCHMARKS.md")
    args = parser.parse_args()
    if args.report_only:
        with open(RESULTS) as f:
            saved = json.load(f)
        write(saved["results"], saved["meta"])
        return
    python = prepare()
    reps, jobs, rate = (1, 100, 20) if args.quick else (args.reps, args.jobs, args.rate)
    url, cluster = server()
    try:
        version = subprocess.run(["psql", url, "-XAtqc", "SHOW server_version"], capture_output=True, text=True, check=True).stdout.strip()
        results = measure(python, url, reps, jobs, rate)
    finally:
        if cluster:
            subprocess.run([os.path.join(ROOT, "tests/postgres/cluster.sh"), "stop", cluster], check=False)
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")), "?")
    meta = {
        "date": datetime.date.today().isoformat(),
        "machine": f"{os.cpu_count()} cores ({cpu})",
        "server": version.split()[0],
        "reps": reps,
        "jobs": jobs,
        "rate": rate,
    }
    if args.out:
        with open(args.out, "w") as f:
            f.write(section(results, meta))
        return
    with open(RESULTS, "w") as f:
        json.dump({"meta": meta, "results": results}, f, indent=1)
    write(results, meta)
    print("wrote the queues section of BENCHMARKS.md and bench/queues-results.json")


if __name__ == "__main__":
    main()
