"""One library's run of the queue comparison (bench/queues.py drives it), in Python:

    python bench/queues/python.py LIBRARY URL WORKERS JOBS RATE

LIBRARY is jetstate (its AsyncStore) or pgqueuer (PgQueuer over asyncpg, with its default
LISTEN/NOTIFY wake-ups and batch size), WORKERS concurrent handlers on one event loop, on the
database URL names (its own, fresh). Prints one JSON line, as node.mjs does."""

import asyncio
import json
import sys

from measure import measure


async def jetstate_queue(url):
    import jetstate

    # As its README says a worker runs: a waiting claim of up to BATCH items (woken by
    # LISTEN/NOTIFY on PostgreSQL), each item handled, then the batch completed, fenced, in one commit.
    batch = 10
    store = await jetstate.AsyncStore.open(url, durability="full")
    execution = jetstate.WorkflowExecution("bench", "1", {})
    await store.create_execution(execution)
    loops = []

    class Queue:
        async def enqueue(self, data):
            await store.enqueue(jetstate.WorkItem(execution.execution_id, "job", "bench", data))

        async def start(self, n, on_job):
            async def loop(w):
                while True:
                    leases = await store.claim_wait(f"worker-{w}", ["bench"], max=batch, lease=30, timeout=60)
                    if not leases:
                        continue
                    for lease in leases:
                        on_job(lease.item.payload)
                    await store.complete_batch(leases)

            loops.extend(asyncio.create_task(loop(w)) for w in range(n))

        async def stop(self):
            # Cancelling a task cancels its waiting claim at once.
            for task in loops:
                task.cancel()
            await asyncio.gather(*loops, return_exceptions=True)
            await store.close()

    return Queue()


async def pgqueuer_queue(url):
    import asyncpg
    from pgqueuer import AsyncpgDriver, AsyncpgPoolDriver, QueueManager
    from pgqueuer.queries import Queries

    pool = await asyncpg.create_pool(url, min_size=1, max_size=8)
    queries = Queries(AsyncpgPoolDriver(pool))
    await queries.install()
    # A worker is a QueueManager on its own connection (as a PgQueuer worker process is), with
    # its defaults: LISTEN/NOTIFY wake-ups, a batch of 10 per dequeue.
    connections, managers, tasks = [], [], []

    class Queue:
        async def enqueue(self, data):
            await queries.enqueue("bench", json.dumps(data).encode())

        async def start(self, n, on_job):
            for _ in range(n):
                connection = await asyncpg.connect(url)
                manager = QueueManager(Queries(AsyncpgDriver(connection)))

                @manager.entrypoint("bench")
                async def bench(job):
                    on_job(json.loads(job.payload))

                connections.append(connection)
                managers.append(manager)
                tasks.append(asyncio.create_task(manager.run()))

        async def stop(self):
            for manager in managers:
                manager.shutdown.set()
            await asyncio.gather(*tasks)
            for connection in connections:
                await connection.close()
            await pool.close()

    return Queue()


async def main():
    library, url, workers, jobs, rate = sys.argv[1:6]
    adapters = {"jetstate": jetstate_queue, "pgqueuer": pgqueuer_queue}
    if library not in adapters:
        raise SystemExit(f"unknown library {library}")
    queue = await adapters[library](url)
    result = await measure(queue, int(workers), int(jobs), float(rate))
    print(json.dumps({"library": library, "language": "python", "workers": int(workers), **result}))


if __name__ == "__main__":
    asyncio.run(main())
