import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CONFORMANCE = ROOT / "tests" / "conformance"


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    """A path for a fresh store file."""
    return tmp_path / "store.db"


def pytest_report_header() -> str:
    import jetstate

    return f"jetstate {jetstate.__version__} from {Path(jetstate.__file__).parent} on Python {sys.version.split()[0]}"
