#!/usr/bin/env python3
"""Runs every benchmark workload on jetstate, the anchor and the raw-SQLite floor, side by side,
and writes BENCHMARKS.md (table, targets, chart) at the repository root.

    python3 bench/run.py                # the full run (about 20 minutes on 2 cores)
    python3 bench/run.py --quick        # small sizes, one repetition: a smoke test of the harness
    python3 bench/run.py --report-only  # rewrite BENCHMARKS.md from the last run (bench/results.json)

Each run is its own process on a fresh directory, and reports its own peak memory (VmHWM, which
starts afresh at exec, unlike wait4's ru_maxrss, which a child inherits from the Python that forked it); the repetitions of the three implementations are interleaved, so that the machine's noise
falls on all of them alike, and the median is reported.
"""

import argparse
import datetime
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
JETSTATE_BIN = os.path.join(ROOT, "target", "release", "jetstate-bench")
RESULTS = os.path.join(ROOT, "bench", "results.json")
ANCHOR_DIR = os.path.join(ROOT, "bench", "anchor")
ANCHOR_BIN = os.path.join(ANCHOR_DIR, "target", "release", "anchor-bench")

# Workload -> (operations per run, the unit of one operation, one-writer or concurrent).
WORKLOADS = {
    "create_executions": (2000, "execution", "one"),
    "append_one_writer": (2000, "event", "one"),
    "append_8_writers": (4000, "event", "concurrent"),
    "read_history": (200, "1,000-event read", "one"),
    "queue_1_worker": (1000, "enqueue+claim+complete", "one"),
    "queue_4_workers": (2000, "enqueue+claim+complete", "concurrent"),
    "reclaim_1000": (5, "expired lease", "one"),  # n = rounds of 1,000 leases
    "claim_1k_pending": (500, "claim", "one"),
    "claim_1m_pending": (200, "claim", "one"),
}
# The anchor sorts the pending items on every claim: a few claims suffice to measure it.
ANCHOR_SIZES = {"claim_1m_pending": 10}
IMPLEMENTATIONS = ["jetstate", "anchor", "floor", "core"]
DURABILITIES = ["full", "normal"]


def build():
    subprocess.run(["cargo", "build", "--release", "--quiet", "-p", "jetstate-bench"], cwd=ROOT, check=True)
    subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ANCHOR_DIR, check=True)


def run_measured(implementation, workload, durability, n):
    """One run, with the peak RSS in MiB that the process reports for itself (VmHWM)."""
    binary = ANCHOR_BIN if implementation == "anchor" else JETSTATE_BIN
    with tempfile.TemporaryDirectory(prefix="jetstate-bench-") as directory:
        with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
            process = subprocess.Popen(
                [binary, implementation, workload, durability, directory, str(n)], stdout=out, stderr=err
            )
            process.wait()
            out.seek(0)
            err.seek(0)
            if process.returncode != 0:
                raise SystemExit(f"{implementation} {workload} {durability} failed:\n{err.read().decode()}")
            result = json.loads(out.read())
    result["rss_mib"] = result["peak_rss_kib"] / 1024
    result["us_per_op"] = result["seconds"] / result["ops"] * 1e6
    return result


def measure(reps, sizes):
    results = {}
    for durability in DURABILITIES:
        for workload in WORKLOADS:
            runs = {impl: [] for impl in IMPLEMENTATIONS}
            for _ in range(reps):
                for impl in IMPLEMENTATIONS:
                    n = sizes(impl, workload)
                    runs[impl].append(run_measured(impl, workload, durability, n))
            for impl, rs in runs.items():
                results[(workload, durability, impl)] = {
                    "us_per_op": statistics.median(r["us_per_op"] for r in rs),
                    "rss_mib": statistics.median(r["rss_mib"] for r in rs),
                    "ops": rs[0]["ops"],
                    "calls_per_commit": statistics.median(r.get("calls_per_commit") or 1.0 for r in rs),
                }
            line = "  ".join(
                f"{impl} {results[(workload, durability, impl)]['us_per_op']:9.1f} us" for impl in IMPLEMENTATIONS
            )
            batching = results[(workload, durability, "jetstate")].get("calls_per_commit")
            print(f"{durability:6} {workload:18} {line}", flush=True)
    return results


def memory_growth(sizes):
    """jetstate's peak RSS at n and 4n operations, on the queue and event workloads."""
    growth = {}
    for workload in ["append_one_writer", "queue_1_worker"]:
        n = sizes("jetstate", workload)
        small = run_measured("jetstate", workload, "normal", n)["rss_mib"]
        large = run_measured("jetstate", workload, "normal", 4 * n)["rss_mib"]
        growth[workload] = (n, small, large)
    return growth


def ratios(results, workload, durability):
    j = results[(workload, durability, "jetstate")]
    a = results[(workload, durability, "anchor")]
    f = results[(workload, durability, "floor")]
    return {
        "vs_anchor": a["us_per_op"] / j["us_per_op"],  # speedup: how many times faster than the anchor
        "vs_floor": j["us_per_op"] / f["us_per_op"],  # cost: jetstate's time over the floor's
        "rss_vs_anchor": j["rss_mib"] / a["rss_mib"],
    }


def target_notes(results, workload, durability):
    r = ratios(results, workload, durability)
    kind = WORKLOADS[workload][2]
    notes = []
    if r["vs_anchor"] < 1:
        notes.append("slower than anchor")
    if kind == "one" and r["vs_anchor"] < 3:
        notes.append("< 3x anchor")
    if kind == "concurrent" and durability == "full" and r["vs_anchor"] < 10:
        notes.append("< 10x anchor")
    if r["vs_floor"] > 1.25:
        notes.append("> 1.25x floor")
    if r["rss_vs_anchor"] > 0.5:
        notes.append("RSS > half anchor's")
    return "met" if not notes else "missed: " + ", ".join(notes)


def analysis(results):
    """Where each target stands, and why a missed one is missed, read off the same results."""
    out = ["", "## Where the targets stand", ""]
    beyond_floor, handoff, concurrent = [], [], []
    for durability in DURABILITIES:
        for workload, (_, _, kind) in WORKLOADS.items():
            j, a, f, c = (results[(workload, durability, i)] for i in IMPLEMENTATIONS)
            r = ratios(results, workload, durability)
            floor_vs_anchor = a["us_per_op"] / f["us_per_op"]
            if kind == "one" and r["vs_anchor"] < 3 and floor_vs_anchor < 3:
                beyond_floor.append(f"{workload} at {durability} (the floor: {floor_vs_anchor:.1f}x)")
            if r["vs_floor"] > 1.25:
                handoff.append(
                    f"{workload} at {durability}: jetstate {r['vs_floor']:.2f}x the floor, the core alone "
                    f"{c['us_per_op'] / f['us_per_op']:.2f}x"
                )
            if kind == "concurrent" and durability == "full":
                concurrent.append(f"{workload}: {r['vs_anchor']:.1f}x the anchor, {j['calls_per_commit']:.1f} calls per commit")
    if beyond_floor:
        out.append(
            "- **3x the anchor on one-writer workloads** is out of reach where even the raw-SQLite floor, one "
            "commit per call at the same durability, is less than 3x the anchor: " + "; ".join(beyond_floor) + "."
        )
    if handoff:
        out.append(
            "- **Within 1.25x of the floor**: where jetstate is further, compare the `core` column (the same calls "
            "without the async surface's hand-off to a thread): " + "; ".join(handoff) + "."
        )
    if concurrent:
        out.append("- **10x on concurrent workloads at full**, by group commit: " + "; ".join(concurrent) + ".")
    return out


def chart_svg(results):
    """Two panels of bars: speedup over the anchor, and cost over the floor, per workload."""
    workloads = list(WORKLOADS)
    width, bar, gap, top, panel_height = 980, 14, 18, 40, 260
    colors = {"full": "#1f6feb", "normal": "#8fb8ff"}
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{2 * panel_height + 140}" '
        'font-family="sans-serif" font-size="11">',
        '<rect width="100%" height="100%" fill="white"/>',
    ]
    panels = [
        ("jetstate speedup over the anchor, log scale (higher is better; targets 3x one-writer, 10x concurrent at full)",
         "vs_anchor", [1, 3, 10, 100, 1000], True),
        ("jetstate time over the raw-SQLite floor (lower is better; target at most 1.25x)", "vs_floor", [1, 1.25], False),
    ]
    for p, (title, key, marks, log) in enumerate(panels):
        y0 = top + p * (panel_height + 60)
        values = [ratios(results, w, d)[key] for w in workloads for d in DURABILITIES]
        plot_h = panel_height - 60
        if log:
            low, high = 0.5, max(values + marks) * 2

            def scale(v, low=low, high=high):
                return max(0.0, (math.log10(max(v, low)) - math.log10(low)) / (math.log10(high) - math.log10(low)))
        else:
            high = max(values + marks) * 1.1

            def scale(v, high=high):
                return v / high
        parts.append(f'<text x="10" y="{y0 - 12}" font-size="13" font-weight="bold">{title}</text>')
        for mark in marks:
            y = y0 + plot_h - scale(mark) * plot_h
            parts.append(f'<line x1="60" x2="{width - 10}" y1="{y:.1f}" y2="{y:.1f}" stroke="#999" stroke-dasharray="4 3"/>')
            parts.append(f'<text x="55" y="{y + 4:.1f}" text-anchor="end">{mark}x</text>')
        for i, workload in enumerate(workloads):
            x = 70 + i * (2 * bar + gap + 60)
            for j, durability in enumerate(DURABILITIES):
                value = ratios(results, workload, durability)[key]
                h = scale(value) * plot_h
                bx = x + j * (bar + 2)
                parts.append(
                    f'<rect x="{bx}" y="{y0 + plot_h - h:.1f}" width="{bar}" height="{h:.1f}" fill="{colors[durability]}">'
                    f"<title>{workload} {durability}: {value:.2f}x</title></rect>"
                )
                label = f"{value:.0f}" if value >= 100 else f"{value:.1f}"
                parts.append(f'<text x="{bx + bar / 2}" y="{y0 + plot_h - h - 3:.1f}" text-anchor="middle" font-size="9">{label}</text>')
            label = workload.replace("_", " ")
            parts.append(f'<text x="{x + bar}" y="{y0 + plot_h + 14}" text-anchor="middle" font-size="9">{label}</text>')
    legend_y = 2 * panel_height + 120
    for j, durability in enumerate(DURABILITIES):
        parts.append(f'<rect x="{70 + j * 110}" y="{legend_y - 10}" width="12" height="12" fill="{colors[durability]}"/>')
        parts.append(f'<text x="{86 + j * 110}" y="{legend_y}">durability {durability}</text>')
    parts.append("</svg>")
    return "\n".join(parts)


def machine():
    cpu = "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{os.cpu_count()} cores ({cpu}), {memory:.0f} GiB, Linux {platform.release()}"


def write_report(results, growth, reps, command):
    lines = [
        "# Benchmarks",
        "",
        f"Generated by `{command}` on {datetime.date.today()}: {machine()}. The machine is shared and",
        "noisy: each figure is the median of "
        f"{reps} interleaved runs; compare ratios within this file, not across machines.",
        "",
        "- **jetstate**: this repository, through `Arc<dyn StateBackend>` on a tokio runtime, as the engine calls it.",
        "- **anchor**: the engine's current backend, `jamjet-state` 0.4.0 (`SqliteBackend::open(\"sqlite://FILE?mode=rwc\")`,",
        "  sqlx), through its own `Arc<dyn StateBackend>`. It opens at `synchronous=FULL` with no option; for",
        "  `normal` the harness sets `PRAGMA synchronous=NORMAL` on all ten connections of its pool.",
        "- **floor**: raw rusqlite doing the least SQL one operation needs (one statement, one commit) on",
        "  jetstate's schema, at the same pragmas, returning what the operation returns (whole items and",
        "  events); concurrent workloads give each worker its own connection.",
        "- **core**: jetstate's same workload code, but each call run on the caller's thread (a measuring",
        "  device, `bench/jetstate/src/inline.rs`; it blocks its executor, which the real surface must not).",
        "  `jetstate` minus `core` is what the async surface's hand-off to a thread costs.",
        "",
        "Each run is its own process on a fresh file (WAL). Times are per operation; `x anchor` is how many",
        "times faster jetstate is than the anchor, `x floor` is jetstate's time over the floor's (1.00 = as",
        "fast as raw SQLite). Peak memory is each process's own peak RSS (`VmHWM` at exit).",
        "",
        "![ratios](bench/ratios.svg)",
        "",
        "| workload | durability | jetstate | anchor | floor | core | x anchor | x floor | calls per commit | RSS jetstate / anchor (MiB) | targets |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for durability in DURABILITIES:
        for workload, (_, unit, _) in WORKLOADS.items():
            j, a, f, c = (results[(workload, durability, i)] for i in IMPLEMENTATIONS)
            r = ratios(results, workload, durability)
            lines.append(
                f"| {workload} ({unit}) | {durability} | {j['us_per_op']:,.1f} us | {a['us_per_op']:,.1f} us | "
                f"{f['us_per_op']:,.1f} us | {c['us_per_op']:,.1f} us | {r['vs_anchor']:.1f} | {r['vs_floor']:.2f} | "
                f"{j['calls_per_commit']:.1f} | "
                f"{j['rss_mib']:.1f} / {a['rss_mib']:.1f} | {target_notes(results, workload, durability)} |"
            )
    lines += analysis(results)
    flat = {d: results[("claim_1m_pending", d, "jetstate")]["us_per_op"] / results[("claim_1k_pending", d, "jetstate")]["us_per_op"] for d in DURABILITIES}
    anchor_flat = {d: results[("claim_1m_pending", d, "anchor")]["us_per_op"] / results[("claim_1k_pending", d, "anchor")]["us_per_op"] for d in DURABILITIES}
    lines += [
        "",
        "## Claim latency against queue depth",
        "",
        "| durability | jetstate: 1,000,000 pending / 1,000 pending | anchor: same |",
        "| --- | ---: | ---: |",
    ]
    for d in DURABILITIES:
        lines.append(f"| {d} | {flat[d]:.2f}x | {anchor_flat[d]:.1f}x |")
    lines += [
        "",
        "## Memory against the number of items (jetstate, durability normal)",
        "",
        "| workload | n | peak RSS at n | peak RSS at 4n |",
        "| --- | ---: | ---: | ---: |",
    ]
    for workload, (n, small, large) in growth.items():
        lines.append(f"| {workload} | {n:,} | {small:.1f} MiB | {large:.1f} MiB |")
    lines += [
        "",
        "## Regenerate",
        "",
        "```sh",
        "python3 bench/run.py",
        "```",
        "",
        "It builds `bench/jetstate` (in the workspace) and `bench/anchor` (a workspace of its own: the anchor",
        "links SQLite through sqlx, which cannot share a lock file with rusqlite) in release mode, runs",
        "everything, and rewrites this file and `bench/ratios.svg`.",
        "",
    ]
    path = os.path.join(ROOT, "BENCHMARKS.md")
    # The PostgreSQL section is bench/postgres.py's: kept as it is.
    kept = ""
    if os.path.exists(path):
        old = open(path).read()
        start = old.find("<!-- postgres: written by bench/postgres.py -->")
        if start >= 0:
            kept = "\n" + old[start:]
    with open(path, "w") as f:
        f.write("\n".join(lines) + kept)
    with open(os.path.join(ROOT, "bench", "ratios.svg"), "w") as f:
        f.write(chart_svg(results))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small sizes, one repetition, no report")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--report-only", action="store_true", help="rewrite the report from bench/results.json")
    args = parser.parse_args()
    if args.report_only:
        with open(RESULTS) as f:
            saved = json.load(f)
        results = {tuple(key.split("|")): value for key, value in saved["results"].items()}
        growth = {w: tuple(v) for w, v in saved["growth"].items()}
        write_report(results, growth, saved["reps"], "python3 bench/run.py")
        print("wrote BENCHMARKS.md and bench/ratios.svg from bench/results.json")
        return
    build()
    scale = 0.1 if args.quick else 1.0

    def sizes(impl, workload):
        base = ANCHOR_SIZES.get(workload, WORKLOADS[workload][0]) if impl == "anchor" else WORKLOADS[workload][0]
        return max(1, int(base * scale))

    reps = 1 if args.quick else args.reps
    results = measure(reps, sizes)
    if args.quick:
        return
    growth = memory_growth(sizes)
    with open(RESULTS, "w") as f:
        json.dump({"reps": reps, "results": {"|".join(k): v for k, v in results.items()}, "growth": growth}, f, indent=1)
    write_report(results, growth, reps, "python3 bench/run.py")
    print("wrote BENCHMARKS.md and bench/ratios.svg")


if __name__ == "__main__":
    sys.exit(main())
