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

import itertools
import threading
from typing import Any

import numpy as np

from fborn.lowering.wgsl.native import MapError, wgpu_native

STAGED_MIN_BYTES = 1 << 20
"""Uploads from this size on go through a staging buffer; smaller ones through
``wgpuQueueWriteBuffer``."""

DEPTH = 4
"""Staging buffers per size class: uploads beyond that many in flight wait for one."""

STAGING_CAP_BYTES = 1 << 30
"""The most staging memory (pinned host memory) one GPU keeps; an upload that would need more,
with no staging buffer of its size yet, goes through ``wgpuQueueWriteBuffer``."""


class Uploads:
    """The uploads of one GPU (``device``, ``queue``: wgpu-py objects) through the wgpu-native
    entry points (``ffi``, ``lib``), with its staging buffers (of ``usage``). Thread-safe."""

    def __init__(self, device: Any, queue: Any, ffi: Any, lib: Any, usage: int):
        self.device, self.queue, self.ffi, self.lib = device, queue, ffi, lib
        self.usage = usage
        self.cap = STAGING_CAP_BYTES
        self._lock = threading.Lock()
        self._handed_back = threading.Condition(self._lock)  # a buffer's copy was submitted,
        # or a buffer came back
        self._mapped: dict[int, list[Any]] = {}  # by size class, ready to be written
        self._count: dict[int, int] = {}  # staging buffers of each size class
        self._pending: dict[int, tuple[Any, int]] = {}  # map key: (buffer, its copy's index)
        self._failed: list[int] = []
        self._keys = itertools.count()
        self._callback = ffi.callback("void(WGPUMapAsyncStatus, WGPUStringView, void *, void *)",
                                      self._on_mapped)

    def write(self, target: Any, data: np.ndarray, size_class: int) -> None:
        """Copy the contiguous bytes of ``data`` (a multiple of 4) to the start of the wgpu
        buffer ``target``, after the work submitted before; from STAGED_MIN_BYTES on through
        a staging buffer of ``size_class`` bytes. Raises MapError."""
        nbytes = data.nbytes
        lib, ffi = self.lib, self.ffi
        stage = self._take(size_class) if nbytes >= STAGED_MIN_BYTES else None
        if stage is None:
            lib.wgpuQueueWriteBuffer(self.queue._internal, target._internal, 0,
                                     ffi.from_buffer(data), nbytes)
            return
        try:
            pointer = lib.wgpuBufferGetMappedRange(stage._internal, 0, nbytes)
            if pointer == ffi.NULL:
                raise MapError("a staging buffer was not mapped for writing")
            np.copyto(np.frombuffer(ffi.buffer(pointer, nbytes), np.uint8),
                      data.reshape(-1).view(np.uint8))
        except BaseException:
            with self._lock:
                self._mapped.setdefault(size_class, []).append(stage)
                self._handed_back.notify_all()
            raise
        lib.wgpuBufferUnmap(stage._internal)
        self._map_again(stage, self._copy(stage, target, nbytes))

    def _copy(self, stage: Any, target: Any, nbytes: int) -> int:
        """Submit a copy of ``stage``'s first ``nbytes`` into ``target``; its submission
        index."""
        lib, null = self.lib, self.ffi.NULL
        encoder = lib.wgpuDeviceCreateCommandEncoder(self.device._internal, null)
        lib.wgpuCommandEncoderCopyBufferToBuffer(encoder, stage._internal, 0, target._internal,
                                                 0, nbytes)
        commands = lib.wgpuCommandEncoderFinish(encoder, null)
        lib.wgpuCommandEncoderRelease(encoder)
        index = lib.wgpuQueueSubmitForIndex(self.queue._internal, 1,
                                            self.ffi.new("WGPUCommandBuffer[1]", [commands]))
        lib.wgpuCommandBufferRelease(commands)
        return int(index)

    def _take(self, size_class: int) -> Any:
        """A staging buffer of ``size_class`` bytes mapped for writing: a free one, a new one
        (mapped at creation) while fewer than DEPTH exist within the cap, else the first to
        come back; None when the cap leaves this class no buffer at all."""
        index = self.ffi.new("uint64_t *")
        while True:
            with self._lock:
                if self._failed:
                    status, self._failed = self._failed, []
                    raise MapError(f"mapping a staging buffer for writing failed (status "
                                     f"{status})")
                free = self._mapped.get(size_class)
                if free:
                    return free.pop()
                count = self._count.get(size_class, 0)
                held = sum(size * n for size, n in self._count.items())
                if count < DEPTH and held + size_class <= self.cap:
                    self._count[size_class] = count + 1
                    break
                if count == 0:
                    return None
                copies = [i for b, i in self._pending.values() if b.size == size_class]
                if not copies:  # every one is being written by another thread
                    self._handed_back.wait()
                    continue
                index[0] = min(copies)
            # Maps complete in a poll: wait for the oldest copy out of this class's buffers.
            self.lib.wgpuDevicePoll(self.device._internal, True, index)
        try:
            return self.device.create_buffer(size=size_class, usage=self.usage,
                                             mapped_at_creation=True)
        except BaseException:
            with self._lock:
                self._count[size_class] -= 1
            raise

    def _map_again(self, stage: Any, index: int) -> None:
        """Ask wgpu to map ``stage`` for writing once its copy (submission ``index``) is done;
        it then joins the free buffers (in whichever thread polls the device)."""
        with self._lock:
            key = next(self._keys)
            self._pending[key] = (stage, index)
            self._handed_back.notify_all()
        info = self.ffi.new("WGPUBufferMapCallbackInfo *")
        info.mode = self.lib.WGPUCallbackMode_AllowProcessEvents
        info.callback = self._callback
        info.userdata1 = self.ffi.cast("void *", key)
        self.lib.wgpuBufferMapAsync(stage._internal, self.lib.WGPUMapMode_Write, 0, stage.size,
                                    info[0])

    def _on_mapped(self, status: int, _message: Any, user1: Any, _user2: Any) -> None:
        key = int(self.ffi.cast("uintptr_t", user1))
        with self._lock:
            stage, _ = self._pending.pop(key)
            if status == self.lib.WGPUMapAsyncStatus_Success:
                self._mapped.setdefault(stage.size, []).append(stage)
            else:
                self._count[stage.size] -= 1
                self._failed.append(int(status))
            self._handed_back.notify_all()


def native_uploads(device: Any, queue: Any, usage: int) -> Uploads | None:
    """The Uploads of ``device`` whose staging buffers have ``usage`` (MAP_WRITE | COPY_SRC),
    or None when this wgpu build lacks the entry points (or ``FBORN_WGPU_CHECKED=1``):
    uploads then go through wgpu-py's ``write_buffer``."""
    found = wgpu_native(["wgpuQueueWriteBuffer", "wgpuBufferMapAsync", "wgpuDevicePoll",
                         "wgpuBufferGetMappedRange", "wgpuBufferUnmap", "WGPUMapMode_Write",
                         "wgpuQueueSubmitForIndex", "wgpuCommandEncoderCopyBufferToBuffer"])
    return None if found is None else Uploads(device, queue, *found, usage)
