"""The one place that decides how the overlay kernels are compiled.

Every kernel in :mod:`rahat.engine.kernels` is decorated with :func:`kernel` or
:func:`parallel_kernel`, so compile options (on-disk cache, GIL release, threading) are set
once. ``NUMBA_DISABLE_JIT=1`` turns every kernel back into plain Python (numba handles this
itself, and :data:`prange` then is :func:`range`), which the test-suite uses to check that
the Python and the compiled paths agree.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import numba

F = TypeVar("F", bound=Callable[..., Any])

#: Parallel range for loops in :func:`parallel_kernel` functions (``range`` without JIT).
prange = numba.prange

_OPTIONS: dict[str, Any] = {"cache": True, "nogil": True}


def kernel(func: F) -> F:
    """Compile ``func`` in nopython mode, cached on disk, releasing the GIL.

    Parameters
    ----------
    func
        Function over plain NumPy arrays and scalars.

    Returns
    -------
    callable
        The compiled dispatcher (the function itself when ``NUMBA_DISABLE_JIT=1``).
    """
    return numba.njit(**_OPTIONS)(func)


def parallel_kernel(func: F) -> F:
    """Like :func:`kernel`, and run ``prange`` loops on numba's thread pool.

    Parameters
    ----------
    func
        Function over plain NumPy arrays whose outer loop uses :data:`prange` and whose
        iterations are independent.

    Returns
    -------
    callable
        The compiled dispatcher (the function itself when ``NUMBA_DISABLE_JIT=1``).
    """
    return numba.njit(parallel=True, **_OPTIONS)(func)
