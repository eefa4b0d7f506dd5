#!/usr/bin/env python3
"""Runs the benchmark workloads on PostgreSQL: jetstate (PostgresBackend, through
`Arc<dyn StateBackend>`), `core` (the same calls on the caller's thread) and the floor (raw
tokio-postgres, the least SQL each operation needs, one statement per call), side by side, and
writes the PostgreSQL section of BENCHMARKS.md.

    python3 bench/postgres.py                   # the full run, on a cluster of its own
    python3 bench/postgres.py --quick --debug   # small sizes, one repetition, the debug build: a smoke test
    python3 bench/postgres.py --report-only     # rewrite the section from bench/postgres-results.json

The server is a throwaway cluster started by tests/postgres/cluster.sh (its postgresql.conf as
initdb writes it), unless JETSTATE_BENCH_POSTGRES_URL names one. Every run is its own process on a
fresh schema, dropped afterwards; repetitions of the three implementations are interleaved so that
the machine's noise falls on all of them alike, and the median is reported. Durability `full` is
`synchronous_commit = on` for every implementation, `normal` is `off`.
"""

import argparse
import datetime
import json
import os
import shlex
import statistics
import subprocess
import sys
import uuid

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULTS = os.path.join(ROOT, "bench", "postgres-results.json")
BEGIN, END = "<!-- postgres: written by bench/postgres.py -->", "<!-- /postgres -->"

WORKLOADS = {
    "create_executions": (1000, "execution"),
    "append_one_writer": (1000, "event"),
    "append_8_writers": (2000, "event"),
    "read_history": (100, "1,000-event read"),
    "queue_1_worker": (500, "enqueue+claim+complete"),
    "queue_4_workers": (1000, "enqueue+claim+complete"),
    "reclaim_1000": (10, "expired lease"),  # rounds of 1,000: three were too few a sample on a noisy machine
    "claim_1k_pending": (300, "claim"),
    "claim_1m_pending": (300, "claim"),
}
IMPLEMENTATIONS = ["jetstate", "floor", "core"]
DURABILITIES = ["full", "normal"]


def server():
    """The server's URL, and the folder of the cluster started for this run (None if given)."""
    given = os.environ.get("JETSTATE_BENCH_POSTGRES_URL")
    if given:
        return given, None
    started = subprocess.run([os.path.join(ROOT, "tests/postgres/cluster.sh"), "start"], capture_output=True, text=True, check=True)
    env = {}
    for line in started.stdout.splitlines():
        key, value = line.removeprefix("export ").split("=", 1)
        env[key] = shlex.split(value)[0]
    return env["JETSTATE_TEST_POSTGRES_URL"], env["JETSTATE_TEST_POSTGRES_DIR"]


def psql(url, sql):
    subprocess.run(["psql", url, "-XAtqc", sql], check=True, capture_output=True)


def run_one(binary, url, implementation, workload, durability, n):
    schema = f"bench_{uuid.uuid4().hex}"
    separator = "&" if "?" in url else "?"
    # Plain TCP for every implementation: the floor's connection has no TLS, and the test cluster
    # offers it (jetstate, like libpq, would take it by default: sslmode=prefer).
    plain = "" if "sslmode=" in url else "sslmode=disable&"
    try:
        done = subprocess.run(
            [binary, implementation, workload, durability, f"{url}{separator}{plain}schema={schema}", str(n)],
            capture_output=True, text=True, timeout=1800,
        )
        if done.returncode != 0:
            raise RuntimeError(f"{implementation} {workload} {durability}: {done.stderr[-2000:]}")
        result = json.loads(done.stdout.strip().splitlines()[-1])
        for line in done.stderr.splitlines():
            if line.startswith('{"churn"'):
                result["churn"] = json.loads(line)["churn"]
        return result
    finally:
        psql(url, f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def measure(binary, url, reps, scale, churn, skip=(), durabilities=DURABILITIES):
    results = {}
    for workload, (n, _) in WORKLOADS.items():
        if workload in skip:
            continue
        n = max(1, int(n * scale))
        for durability in durabilities:
            samples = {implementation: [] for implementation in IMPLEMENTATIONS}
            for _ in range(reps):
                for implementation in IMPLEMENTATIONS:
                    r = run_one(binary, url, implementation, workload, durability, n)
                    samples[implementation].append(r["seconds"] / r["ops"])
            results[f"{workload}/{durability}"] = {i: statistics.median(s) for i, s in samples.items()}
            print(f"{workload:18} {durability:6} " + "  ".join(f"{i} {results[f'{workload}/{durability}'][i] * 1e6:9.1f} us" for i in IMPLEMENTATIONS), flush=True)
    if churn is not None:
        stats = run_one(binary, url, "jetstate", "churn", "normal", churn)
        results["churn"] = {
            "seconds_per_cycle": stats["seconds"] / stats["ops"],
            "date": datetime.date.today().isoformat(),
            **stats["churn"],
        }
    return results


def us(seconds):
    return f"{seconds * 1e6:,.1f} us"


def section(results, meta):
    lines = [
        BEGIN,
        "## PostgreSQL",
        "",
        f"Generated by `python3 bench/postgres.py` on {meta['date']}: {meta['machine']}, PostgreSQL {meta['server']} on the same",
        "machine (a cluster of the run's own, `postgresql.conf` as initdb writes it; plain TCP on loopback, "
        "`sslmode=disable`, for every implementation). Median of "
        f"{meta['reps']} interleaved runs, each its own process on a fresh schema.",
        "",
        "- **jetstate**: `PostgresBackend` through `Arc<dyn StateBackend>` on a tokio runtime.",
        "- **floor**: raw tokio-postgres (the client library under jetstate's engine) doing the least SQL one",
        "  operation needs, one statement per call (so one transaction), on jetstate's schema, returning what",
        "  the operation returns; the claim is `UPDATE ... WHERE id = (SELECT ... FOR UPDATE SKIP LOCKED)`.",
        "- **core**: jetstate's same calls, each run on the caller's thread (no hand-off to a thread).",
        "",
        "![jetstate over the floor on PostgreSQL](bench/postgres.svg)",
        "",
        "| workload | durability | jetstate | floor | core | x floor |",
        "| --- | --- | ---: | ---: | ---: | ---: |",
    ]
    for workload, (_, unit) in WORKLOADS.items():
        for durability in DURABILITIES:
            r = results.get(f"{workload}/{durability}")
            if r is None:
                lines.append(f"| {workload} ({unit}) | {durability} | not run | | | |")
                continue
            lines.append(
                f"| {workload} ({unit}) | {durability} | {us(r['jetstate'])} | {us(r['floor'])} | {us(r['core'])} | "
                f"{r['jetstate'] / r['floor']:.2f} |"
            )
    lines += ["", "Claim latency against queue depth (1,000,000 pending over 1,000 pending):", ""]
    for durability in DURABILITIES:
        big, small = results.get(f"claim_1m_pending/{durability}"), results.get(f"claim_1k_pending/{durability}")
        if big is None or small is None:
            lines.append(f"- {durability}: not run")
            continue
        lines.append(f"- {durability}: jetstate {big['jetstate'] / small['jetstate']:.2f}x, floor {big['floor'] / small['floor']:.2f}x")
    c = results["churn"]
    lines += [
        "",
        f"After {c['cycles']:,} queue cycles (durability normal{', run on ' + c['date'] if c.get('date', meta['date']) != meta['date'] else ''}), 5 s later: `work_items` holds {c['live']:,} live and "
        f"{c['dead']:,} dead tuples after {c['autovacuums']} autovacuum run(s); table with indexes "
        f"{c['table_bytes'] / 2**20:.1f} MiB, of which indexes {c['index_bytes'] / 2**20:.1f} MiB. What grows: completed",
        "items stay in `work_items` (their rows, and their entries in the primary key and `position` indexes) until",
        "retention removes them (the queue issue); the claim's indexes are partial (`status = 'pending'`,",
        "`status = 'claimed'`), so they hold only live work, and autovacuum reclaims the dead tuples each cycle's",
        "updates leave, after every 5,000 of them (the table's own settings, set by the schema: the default, a fifth",
        "of the table, would wait longer the more completed items it keeps).",
        "",
        "The PostgreSQL queues users pick today (pg-boss, graphile-worker, PgQueuer) side by side with jetstate,",
        "with 1 and 8 workers and pickup latency: the next section (`bench/queues.py`).",
        END,
    ]
    return "\n".join(lines) + "\n"


def chart_svg(results):
    """jetstate's time over the floor per workload, a bar per durability, with the 1.25x target."""
    rows = [(w, d, results[f"{w}/{d}"]) for w in WORKLOADS for d in DURABILITIES if f"{w}/{d}" in results]
    width, left, row_h = 760, 250, 16
    high = max([r["jetstate"] / r["floor"] for _, _, r in rows] + [1.25]) * 1.15
    height = 60 + row_h * len(rows) + 30
    x = lambda ratio: left + (width - left - 20) * ratio / high  # noqa: E731
    colors = {"full": "#1f6feb", "normal": "#8fb8ff"}
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" font-size="11">',
        '<rect width="100%" height="100%" fill="white"/>',
        '<text x="10" y="20" font-size="13" font-weight="bold">PostgreSQL: jetstate time over the tokio-postgres floor '
        "(lower is better; target at most 1.25x)</text>",
    ]
    for mark in (1, 1.25):
        parts.append(f'<line x1="{x(mark):.1f}" x2="{x(mark):.1f}" y1="40" y2="{height - 25}" stroke="#999" stroke-dasharray="4 3"/>')
        parts.append(f'<text x="{x(mark):.1f}" y="{height - 10}" text-anchor="middle">{mark}x</text>')
    for i, (workload, durability, r) in enumerate(rows):
        y = 45 + i * row_h
        ratio = r["jetstate"] / r["floor"]
        parts.append(f'<text x="{left - 6}" y="{y + 11}" text-anchor="end">{workload.replace("_", " ")} ({durability})</text>')
        parts.append(f'<rect x="{left}" y="{y}" width="{x(ratio) - left:.1f}" height="{row_h - 3}" fill="{colors[durability]}"/>')
        parts.append(f'<text x="{x(ratio) + 4:.1f}" y="{y + 11}">{ratio:.2f}</text>')
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def write(results, meta):
    with open(os.path.join(ROOT, "bench", "postgres.svg"), "w") as f:
        f.write(chart_svg(results))
    path = os.path.join(ROOT, "BENCHMARKS.md")
    text = open(path).read() if os.path.exists(path) else "# Benchmarks\n"
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
    parser.add_argument("--debug", action="store_true", help="the debug build (for a smoke test)")
    parser.add_argument("--report-only", action="store_true")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--churn", type=int, default=1_000_000, help="queue cycles before dead tuples are counted")
    parser.add_argument("--out", default=None, help="write the section here instead of BENCHMARKS.md")
    parser.add_argument("--only", nargs="+", choices=list(WORKLOADS), default=None,
                        help="measure these workloads again, keeping the rest of bench/postgres-results.json")
    args = parser.parse_args()
    if args.report_only:
        with open(RESULTS) as f:
            saved = json.load(f)
        write(saved["results"], saved["meta"])
        return
    profile = "debug" if args.debug else "release"
    build = ["cargo", "build", "--quiet", "-p", "jetstate-bench"] + ([] if args.debug else ["--release"])
    subprocess.run(build, cwd=ROOT, check=True)
    binary = os.path.join(ROOT, "target", profile, "jetstate-bench")
    url, cluster = server()
    try:
        version = subprocess.run(["psql", url, "-XAtqc", "SHOW server_version"], capture_output=True, text=True, check=True).stdout.strip()
        reps, scale, churn = (1, 0.02, 200) if args.quick else (args.reps, 1.0, args.churn)
        # The quick run skips the million-item queue (its setup alone outlasts a smoke test) and
        # durability full.
        if args.quick:
            results = measure(binary, url, reps, scale, churn, skip=("claim_1m_pending",), durabilities=["normal"])
        elif args.only:
            with open(RESULTS) as f:
                results = json.load(f)["results"]
            skip = [workload for workload in WORKLOADS if workload not in args.only]
            results.update(measure(binary, url, reps, scale, churn=None, skip=skip))
        else:
            results = measure(binary, url, reps, scale, churn)
    finally:
        if cluster:
            subprocess.run([os.path.join(ROOT, "tests/postgres/cluster.sh"), "stop", cluster], check=False)
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")), "?")
    meta = {
        "date": datetime.date.today().isoformat(),
        "machine": f"{os.cpu_count()} cores ({cpu})",
        "server": version.split()[0],
        "reps": reps,
    }
    if args.out:
        with open(args.out, "w") as f:
            f.write(section(results, meta))
        return
    with open(RESULTS, "w") as f:
        json.dump({"meta": meta, "results": results}, f, indent=1)
    write(results, meta)
    print("wrote the PostgreSQL section of BENCHMARKS.md and bench/postgres-results.json")


if __name__ == "__main__":
    sys.exit(main())
