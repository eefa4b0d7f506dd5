"""The Python worker of the cross-language races: the steps of core/examples/race_worker.rs.

    python worker.py LOCATION NAME SEED [outages]
"""

import sys
import time
from datetime import timedelta
from typing import Any, Callable, Optional, TypeVar

import jetstate

T = TypeVar("T")


def patiently(call: Callable[[], T]) -> Optional[T]:
    """Makes `call` until it raises anything but a retryable error (the server is away). A write
    whose outcome is unknown gives None: a claim whose token the worker never learned expires and
    is claimed again, and the next reclaim redoes a reclaim."""
    while True:
        try:
            return call()
        except jetstate.JetstateError as err:
            if err.outcome_unknown:
                return None
            if not err.retryable:
                raise
            time.sleep(0.020)


def main(path: str, name: str, seed: int, outages: bool) -> None:
    keep: Callable[[Callable[[], Any]], Any] = patiently if outages else (lambda call: call())
    store = keep(lambda: jetstate.Store(path, lease=timedelta(milliseconds=50), backoff_base=0.001, backoff_cap=0.010))
    out = sys.stdout
    turn = seed
    while True:
        turn += 1
        if turn % 40 == 0:
            keep(store.reclaim_expired_leases)
        lease = keep(lambda: store.claim_fenced(name, ["race"]))
        if lease is None:
            if not keep(lambda: store.list_work_items("pending", 1)) and not keep(lambda: store.list_work_items("claimed", 1)):
                return
            keep(store.reclaim_expired_leases)
            time.sleep(0.002)
            continue
        if turn % 97 == 0:
            time.sleep(0.080)  # a stall past the lease
        elif outages:
            time.sleep(0.005)  # the item's work
        try:
            store.complete_fenced(lease.item.id, lease.token)
            out.write(f"DONE {lease.item.id} {lease.token}\n")
        except jetstate.LeaseLostError:
            out.write(f"LOST {lease.item.id}\n")
        except jetstate.DatabaseError as err:
            if outages and err.outcome_unknown:
                out.write(f"UNKNOWN {lease.item.id} {lease.token}\n")
            elif not (outages and err.retryable):  # not written: the item is claimed again
                raise
        if outages:
            out.flush()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4:] == ["outages"])
