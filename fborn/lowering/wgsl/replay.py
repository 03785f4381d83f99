"""Replaying recorded dispatches through wgpu-native's C entry points.

wgpu-py wraps every native call in Python-side error capture; recording a compute pass of a
few dozen kernels spends about half its host time there. A program's dispatches are recorded
through the checked API on its first call; later calls record the same pipelines, bind groups
(each created through the checked API) and workgroup counts with the C functions directly.
``FBORN_WGPU_CHECKED=1`` keeps every call on the checked API (for debugging).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class NativePass:
    """The C functions recording a compute pass, and the null pointer for 'no offsets'."""

    set_pipeline: Any
    set_bind_group: Any
    dispatch: Any
    null: Any

    def record(self, compute_pass: Any, pipeline: Any, bind_group: Any,
               groups: tuple[int, int, int]) -> None:
        """One dispatch: ``pipeline`` with ``bind_group`` at index 0 (wgpu-py objects) over
        ``groups`` workgroups, appended to ``compute_pass``. The caller keeps both objects
        alive until the pass is submitted."""
        handle = compute_pass._internal
        self.set_pipeline(handle, pipeline._internal)
        self.set_bind_group(handle, 0, bind_group._internal, 0, self.null)
        self.dispatch(handle, *groups)


def native_pass() -> NativePass | None:
    """The C entry points of this wgpu build, or None when it does not expose them (or
    ``FBORN_WGPU_CHECKED=1``): then replays use the checked API."""
    if os.environ.get("FBORN_WGPU_CHECKED") == "1":
        return None
    try:
        from wgpu.backends.wgpu_native._api import ffi, lib
    except ImportError:
        return None
    names = ("wgpuComputePassEncoderSetPipeline", "wgpuComputePassEncoderSetBindGroup",
             "wgpuComputePassEncoderDispatchWorkgroups")
    if not all(hasattr(lib, name) for name in names):
        return None
    return NativePass(*(getattr(lib, name) for name in names), ffi.NULL)
