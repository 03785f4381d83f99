"""Loading a program from numba's disk cache without numba's compiler registries.

numba's ``Cache.load_overload`` first refreshes the target context, which imports and installs
every lowering and typing registry numba has (about 0.4 s, once per process): compiling needs
them, loading machine code does not. It needs only the runtime (NRT) that the cached code links
against. ``load_without_refresh`` gives a dispatcher a cache loader that initializes just that;
on a miss the dispatcher compiles as usual, and numba's compiler refreshes the context itself.
"""

from __future__ import annotations

from typing import Any


def load_without_refresh(dispatcher: Any) -> None:
    """Make ``dispatcher`` (an ``njit(cache=True)`` function) load its disk cache entries
    without refreshing numba's target context (left as it is on numba versions whose cache
    lacks the hooks used here)."""
    from numba.core.runtime import rtsys

    cache = getattr(dispatcher, "_cache", None)
    if not (hasattr(cache, "_load_overload")
            and hasattr(cache, "_guard_against_spurious_io_errors")):
        return

    def load_overload(sig: Any, target_context: Any) -> Any:
        rtsys.initialize(target_context)
        with cache._guard_against_spurious_io_errors():
            return cache._load_overload(sig, target_context)

    cache.load_overload = load_overload
