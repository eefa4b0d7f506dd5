"""The Python worker of the cross-language races: the steps of core/examples/race_worker.rs.

    python worker.py FILE NAME SEED
"""

import sys
import time
from datetime import timedelta

import jetstate


def main(path: str, name: str, seed: int) -> None:
    store = jetstate.Store(path, lease=timedelta(milliseconds=50), backoff_base=0.001, backoff_cap=0.010)
    out = sys.stdout
    turn = seed
    while True:
        turn += 1
        if turn % 40 == 0:
            store.reclaim_expired_leases()
        lease = store.claim_fenced(name, ["race"])
        if lease is None:
            if not store.list_work_items("pending", 1) and not store.list_work_items("claimed", 1):
                return
            store.reclaim_expired_leases()
            time.sleep(0.002)
            continue
        if turn % 97 == 0:
            time.sleep(0.080)  # a stall past the lease
        try:
            store.complete_fenced(lease.item.id, lease.token)
            out.write(f"DONE {lease.item.id} {lease.token}\n")
        except jetstate.LeaseLostError:
            out.write(f"LOST {lease.item.id}\n")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]))
