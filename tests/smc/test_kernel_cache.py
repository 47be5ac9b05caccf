"""Compiled kernels are cached per version of the smc sources, so an edited callee is never stale."""

from __future__ import annotations

from pathlib import Path

import numba
import pytest

from smc_agent.smc.kernel import jit


def _package(root: Path) -> Path:
    (root / "kernel").mkdir(parents=True)
    (root / "kernel" / "swings.py").write_text("def pivot(): return 1\n")
    (root / "kernel" / "step.py").write_text("from .swings import pivot\n")
    return root


def test_the_cache_directory_follows_every_source_file(tmp_path: Path) -> None:
    package = _package(tmp_path / "smc")
    before = jit.sources_digest(package)
    assert jit.sources_digest(package) == before  # stable
    (package / "kernel" / "swings.py").write_text("def pivot(): return 2\n")  # only the callee changes
    after = jit.sources_digest(package)
    assert after != before
    (package / "kernel" / "swings.py").rename(package / "kernel" / "pivots.py")  # a rename counts too
    assert jit.sources_digest(package) not in {before, after}


def test_numba_uses_the_versioned_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert str(jit.kernel_cache_dir()) == numba.config.CACHE_DIR
    assert Path(numba.config.CACHE_DIR).name == jit.sources_digest()
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path))
    assert jit.kernel_cache_dir() == tmp_path / jit.sources_digest()
