"""Uploads through wgpu-native's C entry points: small ones with ``wgpuQueueWriteBuffer``
(wgpu-py's checked ``write_buffer`` costs tens of microseconds of host time per call), large
ones through staging buffers that stay mapped between uses.

``queue.write_buffer`` copies the caller's bytes into a staging buffer it allocates for that
call, while holding the queue's lock that ``submit`` takes too: an upload from a prefetching
thread stalls the thread that submits the step, and each call's fresh staging memory is faulted
in again (measured on an H200 host: 53 MB took 6.8 ms, 15.8 ms when calls followed each other
without a wait). ``Uploads`` keeps a few mappable staging buffers per size class, mapped
for writing whenever idle: an upload copies into one with numpy (no wgpu lock held, the GIL
released, so uploads to several GPUs run in parallel threads), unmaps it, submits a copy into
the target and asks wgpu to map it again once the copy is done.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np

from fborn.lowering.wgsl.native import wgpu_native

STAGED_MIN_BYTES = 1 << 20
"""Uploads from this size on go through a staging buffer; smaller ones through
``wgpuQueueWriteBuffer``."""

DEPTH = 4
"""Staging buffers per size class: uploads beyond that many in flight wait for one."""


class StageError(RuntimeError):
    """wgpu-native refused to map a staging buffer for writing."""


class Uploads:
    """The uploads of one GPU (``device``, ``queue``: wgpu-py objects) through the wgpu-native
    entry points (``ffi``, ``lib``), with its staging buffers (of ``usage``). Thread-safe."""

    def __init__(self, device: Any, queue: Any, ffi: Any, lib: Any, usage: int):
        self.device, self.queue, self.ffi, self.lib = device, queue, ffi, lib
        self.usage = usage
        self._lock = threading.Lock()
        self._mapped: dict[int, list[Any]] = {}
        self._count: dict[int, int] = {}
        self._pending: dict[int, Any] = {}
        self._reserved: set[int] = set()
        self._ready: dict[int, Any] = {}
        self._failed: list[int] = []
        self._next_key = 0
        self._callback = ffi.callback("void(WGPUMapAsyncStatus, WGPUStringView, void *, void *)",
                                      self._on_mapped)

    def write(self, target: Any, data: np.ndarray, size_class: int) -> None:
        """Copy the contiguous bytes of ``data`` (a multiple of 4) to the start of the wgpu
        buffer ``target``, after the work submitted before; from STAGED_MIN_BYTES on through
        a staging buffer of ``size_class`` bytes. Raises StageError."""
        nbytes = data.nbytes
        if nbytes < STAGED_MIN_BYTES:
            self.lib.wgpuQueueWriteBuffer(self.queue._internal, target._internal, 0,
                                          self.ffi.from_buffer(data), nbytes)
            return
        stage = self._take(size_class)
        lib, ffi = self.lib, self.ffi
        try:
            pointer = lib.wgpuBufferGetMappedRange(stage._internal, 0, nbytes)
            if pointer == ffi.NULL:
                raise StageError("a staging buffer was not mapped for writing")
            np.copyto(np.frombuffer(ffi.buffer(pointer, nbytes), np.uint8),
                      data.reshape(-1).view(np.uint8))
        except BaseException:
            self._give(stage)
            raise
        lib.wgpuBufferUnmap(stage._internal)
        encoder = self.device.create_command_encoder()
        encoder.copy_buffer_to_buffer(stage, 0, target, 0, nbytes)
        self.queue.submit([encoder.finish()])
        self._map_async(stage)

    def _take(self, size_class: int) -> Any:
        """A staging buffer of ``size_class`` bytes, mapped for writing (created while fewer
        than DEPTH exist, else waited for)."""
        polled = False
        while True:
            with self._lock:
                self._raise_failures()
                free = self._mapped.get(size_class)
                if free:
                    return free.pop()
                create = self._count.get(size_class, 0) < DEPTH
                if create:
                    self._count[size_class] = self._count.get(size_class, 0) + 1
            if create:
                return self._create(size_class)
            # Maps finish in a poll: look without blocking first, then wait for the GPU.
            self.lib.wgpuDevicePoll(self.device._internal, polled, self.ffi.NULL)
            polled = True

    def _create(self, size_class: int) -> Any:
        try:
            stage = self.device.create_buffer(size=size_class, usage=self.usage)
        except BaseException:
            with self._lock:
                self._count[size_class] -= 1
            raise
        key = self._map_async(stage, reserved=True)
        while True:
            with self._lock:
                self._raise_failures()
                if self._ready.pop(key, None) is not None:
                    return stage
            self.lib.wgpuDevicePoll(self.device._internal, True, self.ffi.NULL)

    def _map_async(self, stage: Any, reserved: bool = False) -> int:
        """Ask wgpu to map ``stage`` for writing once its copies are done; it then joins the
        free buffers (``reserved``: it is kept in ``_ready`` for its creator)."""
        with self._lock:
            key = self._next_key
            self._next_key += 1
            self._pending[key] = stage
            if reserved:
                self._reserved.add(key)
        info = self.ffi.new("WGPUBufferMapCallbackInfo *")
        info.mode = self.lib.WGPUCallbackMode_AllowProcessEvents
        info.callback = self._callback
        info.userdata1 = self.ffi.cast("void *", key)
        self.lib.wgpuBufferMapAsync(stage._internal, self.lib.WGPUMapMode_Write, 0, stage.size,
                                    info[0])
        return key

    def _on_mapped(self, status: int, _message: Any, user1: Any, _user2: Any) -> None:
        key = int(self.ffi.cast("uintptr_t", user1))
        with self._lock:
            stage = self._pending.pop(key, None)
            if stage is None:
                return
            if status != self.lib.WGPUMapAsyncStatus_Success:
                self._count[stage.size] -= 1
                self._failed.append(int(status))
                self._reserved.discard(key)
            elif key in self._reserved:
                self._reserved.discard(key)
                self._ready[key] = stage
            else:
                self._mapped.setdefault(stage.size, []).append(stage)

    def _give(self, stage: Any) -> None:
        with self._lock:
            self._mapped.setdefault(stage.size, []).append(stage)

    def _raise_failures(self) -> None:
        if self._failed:
            status, self._failed = self._failed, []
            raise StageError(f"mapping a staging buffer for writing failed (status {status})")


def native_uploads(device: Any, queue: Any, usage: int) -> Uploads | None:
    """The Uploads of ``device`` whose staging buffers have ``usage`` (MAP_WRITE | COPY_SRC),
    or None when this wgpu build lacks the entry points (or ``FBORN_WGPU_CHECKED=1``):
    uploads then go through wgpu-py's ``write_buffer``."""
    found = wgpu_native(["wgpuQueueWriteBuffer", "wgpuBufferMapAsync", "wgpuDevicePoll",
                         "wgpuBufferGetMappedRange", "wgpuBufferUnmap", "WGPUMapMode_Write"])
    return None if found is None else Uploads(device, queue, *found, usage)
