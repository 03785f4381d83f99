"""Recycling of large output buffers that callers have dropped.

A fresh multi-megabyte buffer costs page faults and the kernel's zeroing of every page on its
first write each call (a 64 MB output: about as long as the computation that fills it). A
program's large outputs are therefore allocated here and passed in: an ``OutputPool`` hands
out again a buffer that it created when nothing but the pool refers to it any more (every view
and ``Array`` of an output holds a reference to its buffer), and a new one otherwise. Each pool
keeps at most ``KEEP`` buffers, so a dropped output stays allocated only until its program's
pool is garbage-collected; a caller that keeps its results gets fresh buffers every call.
"""

from __future__ import annotations

import sys
import threading

import numpy as np

KEEP = 2  # one for callers that drop each result, two for `state = step(state)` loops


def _refcounts(buffers: list[np.ndarray]) -> list[int]:
    return [sys.getrefcount(b) for b in buffers]


# What ``_refcounts`` reports for a buffer referred to only by the list it is given.
_IDLE = _refcounts([np.empty(0)])[0]


class OutputPool:
    """Buffers of one size and dtype for one output of one program."""

    def __init__(self, size: int, dtype: np.dtype):
        self.size = size
        self.dtype = np.dtype(dtype)
        self._buffers: list[np.ndarray] = []
        self._lock = threading.Lock()

    def take(self) -> np.ndarray:
        """A buffer nobody else refers to: a recycled one, or a new one (kept for later
        calls while the pool holds fewer than ``KEEP``). Its contents are arbitrary."""
        with self._lock:
            counts = _refcounts(self._buffers)
            for buffer, count in zip(self._buffers, counts, strict=True):
                if count == _IDLE:
                    return buffer
            fresh = np.empty(self.size, self.dtype)
            if len(self._buffers) < KEEP:
                self._buffers.append(fresh)
            return fresh
