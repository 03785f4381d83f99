"""Replaying recorded dispatches through wgpu-native's C entry points.

wgpu-py wraps every native call in Python-side error capture and object bookkeeping; for a
small program that costs more host time than the GPU work (measured on an H200 host: an empty
compute pass took 60 us through the checked API, 31 us through the C calls). A program's
dispatches are recorded through the checked API on its first call; later calls create the
encoder, record the same pipelines, bind groups (each created through the checked API) and
workgroup counts, and submit with the C functions directly. ``FBORN_WGPU_CHECKED=1`` keeps
every call on the checked API (for debugging).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

Dispatch = tuple[Any, Any, tuple[int, int, int]]
"""A pipeline, its bind group (index 0) and workgroup counts (wgpu-py objects and a tuple)."""

_FUNCTIONS = {
    "create_encoder": "wgpuDeviceCreateCommandEncoder",
    "begin": "wgpuCommandEncoderBeginComputePass",
    "set_pipeline": "wgpuComputePassEncoderSetPipeline",
    "set_bind_group": "wgpuComputePassEncoderSetBindGroup",
    "dispatch": "wgpuComputePassEncoderDispatchWorkgroups",
    "end": "wgpuComputePassEncoderEnd",
    "release_pass": "wgpuComputePassEncoderRelease",
    "finish": "wgpuCommandEncoderFinish",
    "release_encoder": "wgpuCommandEncoderRelease",
    "submit": "wgpuQueueSubmit",
    "release_commands": "wgpuCommandBufferRelease",
}


@dataclass(frozen=True)
class NativePass:
    """The C functions recording and submitting a compute pass, with the empty descriptors
    they take."""

    fn: dict[str, Any]
    ffi: Any

    def submit(self, device: Any, queue: Any, dispatches: Sequence[Dispatch]) -> None:
        """Record ``dispatches`` into one compute pass of a new encoder on ``device`` and
        submit it to ``queue`` (wgpu-py objects). The caller keeps the pipelines, bind groups
        and the buffers they bind alive until the work is submitted (wgpu holds them after)."""
        fn = self.fn
        encoder = fn["create_encoder"](device._internal, self.ffi.NULL)
        compute = fn["begin"](encoder, self.ffi.NULL)
        set_pipeline, set_bind_group, dispatch = (fn["set_pipeline"], fn["set_bind_group"],
                                                  fn["dispatch"])
        null = self.ffi.NULL
        for pipeline, group, (x, y, z) in dispatches:
            set_pipeline(compute, pipeline._internal)
            set_bind_group(compute, 0, group._internal, 0, null)
            dispatch(compute, x, y, z)
        fn["end"](compute)
        fn["release_pass"](compute)
        commands = fn["finish"](encoder, null)
        fn["release_encoder"](encoder)
        fn["submit"](queue._internal, 1, self.ffi.new("WGPUCommandBuffer[1]", [commands]))
        fn["release_commands"](commands)


def native_pass() -> NativePass | None:
    """The C entry points of this wgpu build, or None when it does not expose them (or
    ``FBORN_WGPU_CHECKED=1``): then replays use the checked API."""
    if os.environ.get("FBORN_WGPU_CHECKED") == "1":
        return None
    try:
        from wgpu.backends.wgpu_native._api import ffi, lib
    except ImportError:
        return None
    if not all(hasattr(lib, name) for name in _FUNCTIONS.values()):
        return None
    return NativePass({key: getattr(lib, name) for key, name in _FUNCTIONS.items()}, ffi)
