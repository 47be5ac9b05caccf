"""Where the shared test data lives (``../shared/data`` next to the project root), or a clean skip."""

from __future__ import annotations

from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def shared_data_dir() -> Path:
    """Return ``<project>/../shared/data`` or skip the test with the reason."""
    path = (PROJECT_ROOT / ".." / "shared" / "data").resolve()
    if not path.is_dir():
        pytest.skip(f"shared test data not found at {path} (a user's clone has no shared/)")
    return path


def shared_file(*parts: str) -> Path:
    path = shared_data_dir().joinpath(*parts)
    if not path.exists():
        pytest.skip(f"shared test data file missing: {path}")
    return path
