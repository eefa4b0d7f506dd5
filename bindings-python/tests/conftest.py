import os
import sys
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CONFORMANCE = ROOT / "tests" / "conformance"


def postgres_url() -> str:
    """A URL naming a fresh store on the test server: a schema of its own.

    The test command (./test.sh) starts the server and sets JETSTATE_TEST_POSTGRES_URL; there is
    no skipping without one.
    """
    url = os.environ.get("JETSTATE_TEST_POSTGRES_URL", "")
    if not url:
        pytest.fail('JETSTATE_TEST_POSTGRES_URL names no server: run ./test.sh, or eval "$(tests/postgres/cluster.sh start)"')
    separator = "&" if "?" in url else "?"
    return f"{url}{separator}schema=test_{uuid.uuid4().hex}"


# The engines every scenario runs on, by the names the corpus's `not_on` uses.
ENGINES = ("sqlite", "postgresql")


def location(engine: str) -> "str | None":
    """Where a fresh store of `engine` lives: memory for SQLite, a new schema on the server."""
    return None if engine == "sqlite" else postgres_url()


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    """A path for a fresh store file."""
    return tmp_path / "store.db"


def pytest_report_header() -> str:
    import jetstate

    return f"jetstate {jetstate.__version__} from {Path(jetstate.__file__).parent} on Python {sys.version.split()[0]}"
