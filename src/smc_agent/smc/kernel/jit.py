"""A typed wrapper around `numba.njit` (keeps mypy strict happy; compiled code is cached on disk)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar, cast

import numba

F = TypeVar("F", bound=Callable[..., Any])


def jit(fn: F) -> F:
    """Compile `fn` in nopython mode with on-disk caching."""
    return cast(F, numba.njit(cache=True, nogil=True)(fn))


def jit_inline(fn: F) -> F:
    """Like `jit`, but inlined into compiled callers at the numba IR level (no call / refcount overhead)."""
    return cast(F, numba.njit(cache=True, nogil=True, inline="always")(fn))
