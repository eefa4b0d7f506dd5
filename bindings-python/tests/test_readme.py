"""The README's example runs as written, and the type stubs check it (and catch misuse)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def example() -> str:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)
    assert len(blocks) == 1, "the README has one complete example"
    return blocks[0]


def test_the_readme_example_runs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        exec(compile(example(), str(README), "exec"), {"__name__": "__readme__"})
    finally:
        os.chdir(cwd)
    out = capsys.readouterr().out.splitlines()
    assert out == [
        "duplicate",
        "['doc0', 'doc1', 'doc2'] {'summary': 'DOCUMENT 2'}",
        "3",
        "['workflow_started', 'node_completed']",
    ]


def mypy(tmp_path: Path, source: str) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "example.py"
    path.write_text(source)
    return subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", str(path)],
        capture_output=True,
        text=True,
    )


def test_the_stubs_type_the_example(tmp_path: Path) -> None:
    checked = mypy(tmp_path, example())
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_the_stubs_catch_misuse(tmp_path: Path) -> None:
    wrong = """
import asyncio
import jetstate
store = jetstate.Store()
lease = store.claim_fenced("w", ["q"])
lease.token                                 # may be None: an error under --strict
store.complete_fenced(1, 2)                 # an id is a str
x: int = store.get_events("e")              # a list of events
async def main() -> None:
    s = await jetstate.AsyncStore.open()
    y: str = await s.latest_sequence("e")   # an int
"""
    checked = mypy(tmp_path, wrong)
    assert checked.returncode == 1
    for line in (6, 7, 8, 11):
        assert f"example.py:{line}: error" in checked.stdout, checked.stdout


def test_the_stubs_declare_every_native_method() -> None:
    import jetstate
    from jetstate import _native

    stub = (Path(_native.__file__).parent / "_native.pyi").read_text()
    async_stub = (Path(_native.__file__).parent / "_async.pyi").read_text()
    store_stub = stub[stub.index("class Store:") : stub.index("class _AsyncStore:")]
    for name in dir(jetstate.Store):
        if not name.startswith("_"):
            assert f"def {name}(" in store_stub, f"Store.{name} is not in _native.pyi"
            assert f"def {name}(" in async_stub, f"AsyncStore.{name} is not in _async.pyi"
    for cls in ("WorkflowExecution", "Event", "WorkItem", "Lease", "QueueEntry", "Snapshot", "Tenant", "ApiToken"):
        record = getattr(jetstate, cls)
        declared = stub[stub.index(f"class {cls}:") :].split("\nclass ")[0]
        for field in record.__match_args__:
            assert f"    {field}: " in declared, f"{cls}.{field} is not in _native.pyi"
