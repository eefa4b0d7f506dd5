"""Replays every scenario of tests/conformance/*.json through Store and AsyncStore.

The format is described in tests/conformance/README.md; this is the Python runner of it, as
core/tests/conformance.rs is the Rust one. Every failing step of a file is reported at once.
"""

from __future__ import annotations

import asyncio
import inspect
import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

import pytest

import jetstate
from conftest import CONFORMANCE, ENGINES, location

SCENARIOS = sorted(CONFORMANCE.glob("*.json"))


def test_the_scenarios_are_there() -> None:
    assert len(SCENARIOS) >= 8, f"expected the conformance scenarios in {CONFORMANCE}"


def to_json(value: Any) -> Any:
    """A result in the wire form the scenarios are written in (a duration under `name` is the
    wire's milliseconds under `name_ms`)."""
    if hasattr(value, "to_dict"):
        return to_json(value.to_dict())
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {
            (f"{key}_ms" if isinstance(item, timedelta) else key): (
                item / timedelta(milliseconds=1) if isinstance(item, timedelta) else to_json(item)
            )
            for key, item in value.items()
        }
    if isinstance(value, (list, tuple)):
        return [to_json(item) for item in value]
    if isinstance(value, frozenset):
        return sorted(value)
    return value


def same_instant(want: str, got: str) -> bool:
    try:
        return datetime.fromisoformat(want.replace("Z", "+00:00")) == datetime.fromisoformat(got.replace("Z", "+00:00"))
    except ValueError:
        return False


def mismatch(expected: Any, actual: Any, at: str, exact: bool, present: bool = True) -> Optional[str]:
    """Where `actual` fails to match `expected` (README.md, "Matching"), or None."""
    if expected == "$any":
        return None if present and actual is not None else f"at {at}: expected a value, got nothing"
    if expected is None:
        return None if actual is None else f"at {at}: expected null, got {actual!r}"
    if isinstance(expected, dict) and isinstance(actual, dict):
        for key, want in expected.items():
            why = mismatch(want, actual.get(key), f"{at}.{key}", exact, key in actual)
            if why:
                return why
        if exact:
            extra = [key for key, value in actual.items() if value is not None and key not in expected]
            if extra:
                return f"at {at}.{extra[0]}: unexpected {actual[extra[0]]!r}"
        return None
    if isinstance(expected, list) and isinstance(actual, list) and len(expected) == len(actual):
        for index, (want, got) in enumerate(zip(expected, actual)):
            why = mismatch(want, got, f"{at}[{index}]", exact)
            if why:
                return why
        return None
    if isinstance(expected, (int, float)) and not isinstance(expected, bool) and isinstance(actual, (int, float)):
        if not isinstance(actual, bool) and float(expected) == float(actual):
            return None
    if expected == actual and type(expected) is type(actual):
        return None
    if isinstance(expected, str) and isinstance(actual, str) and same_instant(expected, actual):
        return None
    return f"at {at}: expected {expected!r}, got {actual!r}" if present else f"at {at}: expected {expected!r}, got nothing"


def pick(value: Any, path: str) -> Any:
    for part in filter(None, path.split(".")):
        value = value[int(part)] if isinstance(value, list) else value.get(part) if isinstance(value, dict) else None
    return value


def substitute(value: Any, saved: Dict[str, Any]) -> Any:
    if isinstance(value, str) and value.startswith("$") and value != "$any":
        name, _, path = value[1:].partition(".")
        return pick(saved[name], path)
    if isinstance(value, list):
        return [substitute(item, saved) for item in value]
    if isinstance(value, dict):
        return {key: substitute(item, saved) for key, item in value.items()}
    return value


def store_options(options: Dict[str, Any]) -> Dict[str, Any]:
    return {
        "clock": datetime.fromisoformat(options["clock"].replace("Z", "+00:00")),
        "lease": timedelta(milliseconds=options["lease_ms"]),
        "backoff_base": timedelta(milliseconds=options["backoff_base_ms"]),
        "backoff_cap": timedelta(milliseconds=options["backoff_cap_ms"]),
    }


def pythonic(args: Dict[str, Any]) -> Dict[str, Any]:
    """Wire-form settings as Python takes them: `name_ms` numbers as timedeltas under `name`, times
    as datetimes, nested dicts alike."""
    out: Dict[str, Any] = {}
    for key, value in args.items():
        if key.endswith("_ms") and isinstance(value, (int, float)) and not isinstance(value, bool):
            # A negative duration stays a number: Python refuses it as the store does.
            out[key[:-3]] = timedelta(milliseconds=value) if value >= 0 else value
        elif key in ("expires_at", "run_at") and isinstance(value, str):
            try:
                out[key] = datetime.fromisoformat(value.replace("Z", "+00:00"))
            except ValueError:
                out[key] = value
        elif isinstance(value, dict) and key in ("options", "settings", "policy", "rate_limit"):
            out[key] = pythonic(value)
        elif isinstance(value, list) and key == "items":
            out[key] = [pythonic(entry) if isinstance(entry, dict) and "item" in entry else entry for entry in value]
        else:
            out[key] = value
    return out


def python_call(op: str, args: Dict[str, Any]) -> tuple[str, Dict[str, Any]]:
    """The method and keyword arguments a scenario's step means in Python: durations as
    timedeltas, times as datetimes, an enqueue's and a waiting claim's options as keywords."""
    if op == "advance_clock":
        return op, {"by": timedelta(milliseconds=args["ms"])}
    args = pythonic(args)
    if op in ("enqueue", "claim_wait"):
        args.update(args.pop("options", None) or {})
    return op, args


def shape(op: str, result: Any) -> Any:
    if op == "create_token":
        token, info = result
        return {"token": token, "info": to_json(info)}
    return to_json(result)


def not_on(path: Path, engine: str) -> Optional[str]:
    """Why the scenario cannot apply to `engine`, if its `not_on` says so."""
    reasons = json.loads(path.read_text()).get("not_on", {})
    assert set(reasons) <= set(ENGINES), f"{path.name}: not_on names no engine: {sorted(reasons)}"
    return reasons.get(engine)


def replay(path: Path, call: Callable[[Any, str, Dict[str, Any]], Any], opener: Callable[..., Any]) -> List[str]:
    scenario = json.loads(path.read_text())
    root = opener(**store_options(scenario["options"]))
    saved: Dict[str, Any] = {}
    failures = []
    for index, step in enumerate(scenario["steps"], start=1):
        op = step["op"]
        store = root.for_tenant(step["tenant"]) if "tenant" in step else root
        place = f"{path.name} step {index} ({op})"
        try:
            name, kwargs = python_call(op, substitute(step.get("args", {}), saved))
        except KeyError as missing:
            failures.append(f"{place}: no saved value {missing} (an earlier step failed)")
            continue
        try:
            result = shape(op, call(store, name, kwargs))
        except jetstate.JetstateError as err:
            if step.get("error") != err.code:
                failures.append(f"{place}: expected {step.get('error', 'success')}, got {err.code} ({err})")
            continue
        if "error" in step:
            failures.append(f"{place}: expected error {step['error']}, got {result!r}")
            continue
        if "expect" in step:
            why = mismatch(substitute(step["expect"], saved), result, "result", step.get("exact", False))
            if why:
                failures.append(f"{place}: {why}")
        for name, at in step.get("save", {}).items():
            saved[name] = pick(result, at)
    return failures


def sync_call(store: jetstate.Store, name: str, kwargs: Dict[str, Any]) -> Any:
    return getattr(store, name)(**kwargs)


def applies(path: Path, engine: str) -> None:
    reason = not_on(path, engine)
    if reason:
        pytest.skip(f"not on {engine}, as the corpus says: {reason}")


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: p.stem)
def test_scenario_through_store(path: Path, engine: str) -> None:
    applies(path, engine)
    where = location(engine)
    failures = replay(path, sync_call, lambda **options: jetstate.Store(where, **options))
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: p.stem)
def test_scenario_through_async_store(path: Path, engine: str) -> None:
    applies(path, engine)
    where = location(engine)

    async def main() -> List[str]:
        loop = asyncio.get_running_loop()

        def on_loop(call: Callable[[], Any]) -> Any:
            """Runs `call` on the loop and awaits what it returns, from the replaying thread."""

            async def run() -> Any:
                result = call()
                return await result if inspect.isawaitable(result) else result

            return asyncio.run_coroutine_threadsafe(run(), loop).result()

        def async_call(store: jetstate.AsyncStore, name: str, kwargs: Dict[str, Any]) -> Any:
            # Each step runs on the loop, awaited before the next one starts.
            return on_loop(lambda: getattr(store, name)(**kwargs))

        def opener(**options: Any) -> jetstate.AsyncStore:
            return on_loop(lambda: jetstate.AsyncStore.open(where, **options))

        return await asyncio.to_thread(replay, path, async_call, opener)

    failures = asyncio.run(main())
    assert not failures, "\n".join(failures)


def test_the_matcher_rejects_what_it_should() -> None:
    assert mismatch({"a": 1}, {"a": 1, "b": 2}, "r", False) is None
    assert mismatch({"a": 1}, {"a": 1, "b": 2}, "r", True) is not None
    assert mismatch({"a": 1}, {"a": 1, "b": None}, "r", True) is None
    assert mismatch({"a": 1}, {"a": 2}, "r", False) is not None
    assert mismatch([1], [1, 2], "r", False) is not None
    assert mismatch("$any", None, "r", False) is not None
    assert mismatch({"gone": None}, {}, "r", False) is None
    assert mismatch(1, 1.0, "r", False) is None
    assert mismatch(True, 1, "r", False) is not None
    assert mismatch("2026-01-01T00:00:01.5Z", "2026-01-01T00:00:01.500000+00:00", "r", False) is None
