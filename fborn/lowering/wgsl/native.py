"""wgpu-native's C entry points for the two hot paths: replaying dispatches and reading back.

wgpu-py wraps every native call in Python-side error capture and object bookkeeping; for a
small program that costs more host time than the GPU work (measured on an H200 host: an empty
compute pass took 60 us through the checked API, 31 us through the C calls).

- Replays: a program's dispatches are recorded through the checked API on its first call; later
  calls create the encoder, record the same pipelines, bind groups (each created through the
  checked API) and workgroup counts, and submit with the C functions directly.
- Reads: wgpu-py maps a buffer by handing a token to its polling thread and waiting for that
  thread's callback (two thread hand-offs per read); ``NativeMap`` maps the staging buffers
  and polls the device in the calling thread.

``FBORN_WGPU_CHECKED=1`` keeps every call on the checked API (for debugging).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

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


def wgpu_native(names: Sequence[str]) -> tuple[Any, Any] | None:
    """wgpu-native's (ffi, lib) when ``lib`` has every name in ``names`` and
    ``FBORN_WGPU_CHECKED`` is not 1, else None (callers then use wgpu-py's checked API)."""
    if os.environ.get("FBORN_WGPU_CHECKED") == "1":
        return None
    try:
        from wgpu.backends.wgpu_native._api import ffi, lib
    except ImportError:
        return None
    if not all(hasattr(lib, name) for name in names):
        return None
    return ffi, lib


def native_pass() -> NativePass | None:
    """The C entry points of this wgpu build, or None when it does not expose them (or
    ``FBORN_WGPU_CHECKED=1``): then replays use the checked API."""
    found = wgpu_native(list(_FUNCTIONS.values()))
    if found is None:
        return None
    ffi, lib = found
    return NativePass({key: getattr(lib, name) for key, name in _FUNCTIONS.items()}, ffi)


class MapError(RuntimeError):
    """wgpu-native refused to map a staging buffer (for reading or for writing)."""


class NativeMap:
    """Maps staging buffers for reading and waits for them in the calling thread (one read
    at a time: the map statuses are shared)."""

    def __init__(self, ffi: Any, lib: Any):
        self.ffi, self.lib = ffi, lib
        self._lock = threading.Lock()
        self._status: list[int] = []
        self._callback = ffi.callback("void(WGPUMapAsyncStatus, WGPUStringView, void *, void *)",
                                      self._mapped)
        info = ffi.new("WGPUBufferMapCallbackInfo *")
        info.mode = lib.WGPUCallbackMode_AllowProcessEvents
        info.callback = self._callback
        self._info = info

    def _mapped(self, status: int, _message: Any, _user1: Any, _user2: Any) -> None:
        self._status.append(int(status))

    def read(self, device: Any, stages: Sequence[tuple[Any, int]],
             sink: Callable[[int, np.ndarray], None]) -> None:
        """Map each (staging buffer, nbytes) of ``stages`` (wgpu-py buffers whose copies were
        submitted), wait for all, call ``sink(i, bytes)`` with a uint8 view of stage ``i``'s
        mapped memory (valid only during the call), and unmap. Raises MapError."""
        with self._lock:
            self._read(device, stages, sink)

    def _read(self, device: Any, stages: Sequence[tuple[Any, int]],
              sink: Callable[[int, np.ndarray], None]) -> None:
        lib, ffi = self.lib, self.ffi
        self._status.clear()
        for stage, nbytes in stages:
            lib.wgpuBufferMapAsync(stage._internal, lib.WGPUMapMode_Read, 0, nbytes,
                                   self._info[0])
        while len(self._status) < len(stages):
            lib.wgpuDevicePoll(device._internal, True, ffi.NULL)
        failed = any(s != lib.WGPUMapAsyncStatus_Success for s in self._status)
        try:
            if failed:
                raise MapError(f"mapping a staging buffer failed (status {self._status})")
            for i, (stage, nbytes) in enumerate(stages):
                pointer = lib.wgpuBufferGetConstMappedRange(stage._internal, 0, nbytes)
                sink(i, np.frombuffer(ffi.buffer(pointer, nbytes), np.uint8))
        finally:
            for stage, _ in stages:
                lib.wgpuBufferUnmap(stage._internal)


def native_map() -> NativeMap | None:
    """A NativeMap, or None when this wgpu build lacks the entry points (or
    ``FBORN_WGPU_CHECKED=1``): reads then go through wgpu-py's ``map_sync``."""
    found = wgpu_native(["wgpuBufferMapAsync", "wgpuDevicePoll",
                         "wgpuBufferGetConstMappedRange", "wgpuBufferUnmap"])
    return None if found is None else NativeMap(*found)
