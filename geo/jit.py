"""The one place that decides how the numba kernels are compiled.

Every kernel (the overlay's in :mod:`rahat.engine.kernels`, the identity tokens' in
:mod:`rahat.geo.registry.identity_kernel`) is decorated with :func:`kernel` or
:func:`parallel_kernel`, so compile options (on-disk cache, GIL release, threading) are set
once. ``NUMBA_DISABLE_JIT=1`` turns every kernel back into plain Python (numba handles this
itself, and :data:`prange` then is :func:`range`), which the test-suite uses to check that
the Python and the compiled paths agree.

numba is imported when a kernel is first called, not when a kernel module is imported: numba
takes a few hundred milliseconds to import, and a command that never runs a kernel (``rahat
--help``, ``rahat compare`` of two run folders, the server's start) should not pay for it. On
that first call the kernel and every kernel it calls from its module's globals are handed to
``numba.njit`` (compiled code comes from numba's on-disk cache when it is there), and the
module's :data:`prange` becomes ``numba.prange``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, TypeVar, cast

F = TypeVar("F", bound=Callable[..., Any])

_OPTIONS: dict[str, Any] = {"cache": True, "nogil": True}

#: One compile at a time: two threads calling a kernel for the first time build it once.
_LOCK = threading.RLock()

#: Whether numba has built a kernel in this process (so the next one costs no start-up).
_READY = False


def jit_ready() -> bool:
    """Whether numba is loaded and a kernel built in this process.

    The first kernel of a process pays for importing numba and starting LLVM (about 0.7 s on
    2 cores); code with a NumPy formulation as good for one call (the ranking, the budget
    fill) uses its kernel only once this is paid, and the NumPy one before.
    """
    return _READY


def prange(*args: int) -> range:
    """Parallel range for loops in :func:`parallel_kernel` functions.

    Plain :func:`range` until numba is loaded; a kernel module's ``prange`` is replaced by
    ``numba.prange`` before its first kernel is compiled.
    """
    return range(*args)


class _LazyKernel:
    """A kernel that imports numba and compiles itself on its first call.

    Parameters
    ----------
    func
        The Python function.
    options
        Keyword arguments for ``numba.njit``.
    """

    def __init__(self, func: Callable[..., Any], options: dict[str, Any]) -> None:
        self.py_func = func
        self._options = options
        self._dispatcher: Callable[..., Any] | None = None
        self._linked = False
        self.__name__ = func.__name__
        self.__qualname__ = func.__qualname__
        self.__doc__ = func.__doc__
        self.__module__ = func.__module__
        self.__wrapped__ = func

    def dispatcher(self) -> Callable[..., Any]:
        """Return numba's dispatcher for this kernel (built, and its callees, on first use)."""
        if not self._linked:  # the lock is re-entrant: kernels that call each other link once
            with _LOCK:
                if self._dispatcher is None:
                    import numba

                    namespace = self.py_func.__globals__
                    if namespace.get("prange") is prange:
                        namespace["prange"] = numba.prange
                    self._dispatcher = numba.njit(**self._options)(self.py_func)
                    self._link(namespace)
                    self._linked = True
                    global _READY
                    _READY = True
        return cast("Callable[..., Any]", self._dispatcher)

    def _link(self, namespace: dict[str, Any]) -> None:
        # The module's kernels become dispatchers, so compiled code calls compiled code.
        for name, value in list(namespace.items()):
            if isinstance(value, _LazyKernel):
                namespace[name] = value.dispatcher()

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Run the compiled kernel."""
        return self.dispatcher()(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        # Dispatcher attributes (signatures, inspect_types, ...) once compiled.
        if name.startswith("__") or name in {"_dispatcher", "_linked", "_options", "py_func"}:
            raise AttributeError(name)
        return getattr(self.dispatcher(), name)


def kernel(func: F) -> F:
    """Compile ``func`` in nopython mode, cached on disk, releasing the GIL.

    Parameters
    ----------
    func
        Function over plain NumPy arrays and scalars.

    Returns
    -------
    callable
        A kernel that compiles on its first call (the function itself, in effect, when
        ``NUMBA_DISABLE_JIT=1``).
    """
    return cast("F", _LazyKernel(func, _OPTIONS))


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
        A kernel that compiles on its first call (the function itself, in effect, when
        ``NUMBA_DISABLE_JIT=1``).
    """
    return cast("F", _LazyKernel(func, {**_OPTIONS, "parallel": True}))
