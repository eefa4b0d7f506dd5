"""A writer for the crash test, through the Python package: appends events and cycles the queue
on FILE (durability full) forever, printing each call once it returned. Killed by the test.

    python writer.py FILE EXECUTION_ID
"""

import sys

import jetstate


def main(path: str, execution_id: str) -> None:
    store = jetstate.Store(path, durability="full")
    out = sys.stdout
    while True:
        event = store.append_next_event(execution_id, {"type": "node_scheduled", "node_id": "n", "queue_type": "q"})
        out.write(f"event {event.sequence}\n")
        out.flush()
        item = jetstate.WorkItem(execution_id, "n", "q", {})
        store.enqueue_work_item(item)
        out.write(f"enqueued {item.id}\n")
        out.flush()
        lease = store.claim_fenced("python", ["q"])
        if lease is not None:
            store.complete_fenced(lease.item.id, lease.token)
            out.write(f"completed {lease.item.id}\n")
            out.flush()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
