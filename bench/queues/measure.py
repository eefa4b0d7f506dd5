"""The three measurements of the queue comparison, the same for every Python library (Node's
twin is measure.mjs, which says what each figure is). A queue adapter has ``enqueue(data)``,
``start(workers, on_job)`` and ``stop()``, all coroutines; ``on_job(data)`` is called as a handler
starts on a job, and the library completes the job when the handler returns."""

import asyncio
import math
import time


def percentile(ordered, p):
    return ordered[min(len(ordered) - 1, math.ceil(p / 100 * len(ordered)) - 1)]


async def measure(queue, workers, jobs, rate):
    # 1. Enqueue: `jobs` jobs, one per call, `workers` callers at once; no worker runs yet.
    sent = 0

    async def sender():
        nonlocal sent
        while sent < jobs:
            sent += 1
            await queue.enqueue({"t": 0})

    started = time.perf_counter()
    await asyncio.gather(*(sender() for _ in range(workers)))
    enqueue_seconds = time.perf_counter() - started

    # 2. Drain the backlog; the rate runs from the first pickup to the last.
    seen = 0
    first = last = 0.0
    drained = asyncio.Event()

    def on_drain(_data):
        nonlocal seen, first, last
        seen += 1
        if seen == 1:
            first = time.perf_counter()
        if seen == jobs:
            last = time.perf_counter()
            drained.set()

    handler = [on_drain]
    await queue.start(workers, lambda data: handler[0](data))
    try:
        await asyncio.wait_for(drained.wait(), 600)
    except asyncio.TimeoutError:
        raise RuntimeError(f"drain stalled at {seen}/{jobs}") from None

    # 3. Pickup latency at `rate` jobs per second to idle workers.
    await asyncio.sleep(1)
    samples = max(20, round(rate * 5))
    latencies = []
    picked = asyncio.Event()

    def on_pickup(data):
        latencies.append((time.perf_counter() - data["t"]) * 1000)
        if len(latencies) == samples:
            picked.set()

    handler[0] = on_pickup
    start = time.perf_counter()
    for i in range(samples):
        due = start + i / rate
        if due > time.perf_counter():
            await asyncio.sleep(due - time.perf_counter())
        await queue.enqueue({"t": time.perf_counter()})
    try:
        await asyncio.wait_for(picked.wait(), 60)
    except asyncio.TimeoutError:
        raise RuntimeError(f"pickup stalled at {len(latencies)}/{samples}") from None
    await queue.stop()
    latencies.sort()
    return {
        "jobs": jobs,
        "enqueue_per_s": jobs / enqueue_seconds,
        "drain_per_s": (jobs - 1) / (last - first),
        "pickup_ms": {"p50": percentile(latencies, 50), "p99": percentile(latencies, 99), "samples": samples},
    }
