"""A typed wrapper around `numba.njit` (keeps mypy strict happy; compiled code is cached on disk).

Numba checks a cached kernel only against its own source file: a kernel that inlines or calls a
function from another file keeps running the old compiled callee after that file changes (an
upgrade, a `git pull`). So the cache lives in a directory named after a hash of every source file
of the `smc` package and the numba version: changed sources get a fresh cache, never a stale one.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar, cast

import numba
import platformdirs

F = TypeVar("F", bound=Callable[..., Any])

SMC_PACKAGE = Path(__file__).resolve().parents[1]


def sources_digest(package: Path = SMC_PACKAGE) -> str:
    """A short hash of the package's Python sources (paths and contents) and the numba version."""
    digest = hashlib.blake2b(numba.__version__.encode(), digest_size=8)
    for path in sorted(package.rglob("*.py")):
        digest.update(str(path.relative_to(package)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def kernel_cache_dir(package: Path = SMC_PACKAGE) -> Path:
    """`$NUMBA_CACHE_DIR/<digest>` if the user set one, else the per-user cache directory."""
    base = os.environ.get("NUMBA_CACHE_DIR") or str(Path(platformdirs.user_cache_dir("smc-agent")) / "numba")
    return Path(base) / sources_digest(package)


numba.config.CACHE_DIR = str(kernel_cache_dir())  # type: ignore[attr-defined]  # set at import


def jit(fn: F) -> F:
    """Compile `fn` in nopython mode with on-disk caching."""
    return cast(F, numba.njit(cache=True, nogil=True)(fn))


def jit_inline(fn: F) -> F:
    """Like `jit`, but inlined into compiled callers at the numba IR level (no call / refcount overhead)."""
    return cast(F, numba.njit(cache=True, nogil=True, inline="always")(fn))
