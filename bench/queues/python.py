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

    # No LISTEN/NOTIFY yet (the queue issue brings a waiting claim): a handler that finds the
    # queue empty polls again after POLL_S.
    poll_s = 0.001
    store = await jetstate.AsyncStore.open(url, durability="full")
    execution = jetstate.WorkflowExecution("bench", "1", {})
    await store.create_execution(execution)
    running = False
    loops = []

    class Queue:
        async def enqueue(self, data):
            await store.enqueue_work_item(jetstate.WorkItem(execution.execution_id, "job", "bench", data))

        async def start(self, n, on_job):
            nonlocal running
            running = True

            async def loop(w):
                while running:
                    lease = await store.claim_fenced(f"worker-{w}", ["bench"], lease=30)
                    if lease is None:
                        await asyncio.sleep(poll_s)
                        continue
                    on_job(lease.item.payload)
                    await store.complete_fenced(lease.item.id, lease.token)

            loops.extend(asyncio.create_task(loop(w)) for w in range(n))

        async def stop(self):
            nonlocal running
            running = False
            await asyncio.gather(*loops)
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
