"""``fborn.pmap``: map a function over devices, one slice of the leading axis per device.

Design
------
* Tracing. ``pmap(f)`` traces ``f`` once per input signature on the *per-device* avals (the
  mapped axis removed), with ``axis_name`` bound in the axis environment, so collectives
  (``psum``, ``pmean``, ``all_gather``...) are recorded in the per-device jaxpr. The call is the
  higher-order primitive ``pmap_p`` carrying that jaxpr; its jvp, partial-eval, transpose and
  batching rules transform the inner jaxpr, so ``grad``, ``vmap`` and ``jit`` compose with it.
* Running. Each local device gets a thread (device 0 runs on the calling thread, so MPI is only
  ever called from the main thread). The per-device program (``SplitProgram``) is the jaxpr cut
  at the equations that need the host: collectives, and calls or loops that contain them.
  Between cuts, the collective-free segments are compiled once with numba (``jit``'s compiler,
  on first use) and shared by the CPU devices; a cut equation is bound under a
  ``DeviceInterpreter``, which runs collectives through an ``Exchange`` (consecutive
  independent ones together) and everything else with the reference implementations
  (a ``scan`` whose body holds a ``psum`` is interpreted; each step's ``psum`` meets the other
  devices').
* Collectives. An ``Exchange`` is a barrier plus one slot per local device: every device writes
  its buffer and waits; device 0 stacks the slots, joins the other processes' stacks with one
  MPI ``Allgather`` when ``fborn.distributed.initialize()`` was called, computes every local
  member's result on the host in a fixed order (so all members and processes agree bitwise),
  and a second barrier releases the devices. A failure on one device aborts the barrier so no
  device waits forever.
* GPU devices. A GPU device's thread runs the same ``SplitProgram`` with each segment compiled
  by the WGSL backend for that device's GPU (``executable_for``); values stay ``GpuArray``s on
  it. WebGPU has no peer-to-peer copies, so collectives stage through the host: consecutive
  independent collectives form one group, whose operands each device reads back with one
  submit (the devices' reads run in parallel threads) from mapped staging memory straight into
  reused host arrays (``Scratch``: fresh large arrays cost page faults), one exchange reduces
  them on the host in the fixed order above, and each device uploads the results to its GPU.
  Inputs are sliced on the host and uploaded by each device's thread, so the copies to the GPUs
  overlap. A psum, pmax or pmin over a single device never leaves the GPU. Devices of both
  platforms may be mixed in one pmap (each runs its own backend; they meet in the exchange).
* Outputs are ``ShardedArray``s (``fborn/core/sharded.py``): ordinary arrays whose shards stay
  per device; a ShardedArray split along the mapped axis goes back into pmap without a gather.
* ``jit`` of a jaxpr that holds ``pmap_p`` (or a collective) cannot be one numba function:
  ``fborn.transforms.jit.compiled`` runs such jaxprs as ``SplitProgram``s.

Devices default to ``fborn.local_devices()`` (the CPU devices, ``FBORN_NUM_CPU_DEVICES=N``, or
with ``FBORN_PLATFORM=gpu`` one device per GPU adapter). numba kernels hold the
GIL (the renderer does not ask for ``nogil``), so device threads overlap only in numpy and
BLAS; the CPU parallelism of each kernel is numba's own.

Deviations from JAX: ``donate_argnums``, ``backend`` and ``global_arg_shapes`` are accepted and
ignored; nested pmaps cannot use the outer axis name in the inner body. (The cotangent of an
output with ``out_axes=None``, device 0's value, goes to device 0 alone, as in JAX.)
"""

from __future__ import annotations

import contextlib
import functools
import threading
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from fborn import distributed
from fborn.core.array import ArrayImpl, Device
from fborn.core.aval import ShapedArray
from fborn.core.config import config
from fborn.core.devices import local_devices
from fborn.core.errors import FbornShapeError
from fborn.core.jaxpr import ClosedJaxpr, Jaxpr, JaxprEqn, Literal, PerJaxpr, Var
from fborn.core.primitive import Primitive
from fborn.core.sharded import ShardedArray
from fborn.core.staging import trace_to_jaxpr
from fborn.core.switching import short_switch_interval
from fborn.core.trace import (
    BASE_INTERPRETER,
    Interpreter,
    Tracer,
    current_interpreter,
    extend_axis_env,
    get_aval,
    set_interpreter,
)
from fborn.core.tree import tree_flatten, tree_unflatten
from fborn.primitives import collectives as coll
from fborn.primitives.rules import Zero, instantiate, is_undefined, move_axis, tangent_aval
from fborn.transforms import jit as jit_module
from fborn.transforms.ad import jvp_jaxpr
from fborn.transforms.batching import batch_jaxpr
from fborn.transforms.make_jaxpr import abstractify
from fborn.transforms.partial_eval import partial_eval_jaxpr
from fborn.transforms.transpose import transpose_jaxpr
from fborn.transforms.vmap import broadcast_prefix

__all__ = ["pmap", "pmap_p"]

pmap_p = Primitive("pmap", multiple_results=True)
COLLECTIVES = frozenset({coll.psum_p, coll.pmax_p, coll.pmin_p, coll.all_gather_p,
                         coll.axis_index_p, coll.ppermute_p, coll.psum_scatter_p})


# --- devices -----------------------------------------------------------------------------------

def local_device_list() -> list[Device]:
    """This process's devices of the default backend (``FBORN_PLATFORM``; the CPU devices,
    ``FBORN_NUM_CPU_DEVICES`` of them, unless it says ``gpu``), read at each call."""
    return local_devices()


def _choose_devices(size: int, devices: Sequence[Device] | None) -> tuple[Device, ...]:
    """The local devices a pmap of mapped size ``size`` runs on."""
    if devices is not None:
        mine = [d for d in devices if d.process_index == distributed.process_index()]
        if len(mine) != size:
            raise ValueError(f"pmap got devices={list(devices)} with {len(mine)} devices of "
                             f"this process, but the mapped axis has size {size}: they must "
                             f"be equal")
        return tuple(mine)
    available = local_device_list()
    if size > len(available):
        hint = "the machine has fewer GPU adapters" if available[0].platform == "gpu" else \
            f"set FBORN_NUM_CPU_DEVICES={size} before fborn creates its devices"
        raise ValueError(f"compiling computation that requires {size} logical devices, but "
                         f"only {len(available)} devices are available (num_replicas={size}); "
                         f"{hint}")
    return tuple(available[:size])


# --- collectives on host buffers ---------------------------------------------------------------

def _names(axis_name: Any) -> tuple[Any, ...]:
    return axis_name if isinstance(axis_name, tuple) else (axis_name,)


def _combine(prim: Primitive, members: np.ndarray, params: dict, first: int, count: int
             ) -> list[np.ndarray]:
    """Results of members ``first .. first + count`` of a collective, given every member's
    operand stacked along axis 0 of ``members`` (no result is a view of ``members``)."""
    if prim is coll.psum_p:
        return [np.sum(members, axis=0, dtype=members.dtype)] * count
    if prim is coll.pmax_p:
        return [np.max(members, axis=0)] * count
    if prim is coll.pmin_p:
        return [np.min(members, axis=0)] * count
    if prim is coll.all_gather_p:
        out = np.moveaxis(members, 0, params["axis"])
        if params["tiled"]:
            axis = params["axis"]
            shape = out.shape
            out = out.reshape(*shape[:axis], shape[axis] * shape[axis + 1], *shape[axis + 2:])
        return [np.array(out)] * count  # a copy: ``members`` may be reused scratch memory
    if prim is coll.ppermute_p:
        sources = {dst: src for src, dst in params["perm"]}
        zero = np.zeros_like(members[0])
        return [members[sources[m]].copy() if m in sources else zero
                for m in range(first, first + count)]
    assert prim is coll.psum_scatter_p
    dim = params["scatter_dimension"]
    total = np.sum(members, axis=0, dtype=members.dtype)
    blocks = np.split(total, len(members), axis=dim)
    picked = blocks[first:first + count]
    return [b if params["tiled"] else np.squeeze(b, axis=dim) for b in picked]


class Exchange:
    """The meeting point of one pmap call's local devices (and, with MPI, its processes)."""

    def __init__(self, count: int, axis_name: Any, axis_size: int):
        self.count = count
        self.axis_name = axis_name
        self.axis_size = axis_size
        self.first = distributed.process_index() * count
        self.barrier = threading.Barrier(count)
        self.slots: list[Any] = [None] * count
        self.result: Any = None

    def abort(self) -> None:
        self.barrier.abort()

    def check(self, params: dict) -> None:
        """Raise NameError unless the collective reduces over this pmap's axis."""
        names = _names(params["axis_name"])
        if names != (self.axis_name,):
            raise NameError(f"unbound axis name: {[n for n in names if n != self.axis_name][0]}"
                            f". A collective inside pmap(axis_name={self.axis_name!r}) can only "
                            f"reduce over that axis.")

    def run(self, index: int, prim: Primitive, value: np.ndarray | None, params: dict
            ) -> np.ndarray:
        """Member ``index``'s result of collective ``prim`` on its operand ``value``."""
        return self.run_many(index, [(prim, value, params)])[0]

    def run_many(self, index: int, items: Sequence[tuple[Primitive, np.ndarray | None, dict]]
                 ) -> list[np.ndarray]:
        """Member ``index``'s results of the collectives ``items`` (primitive, operand, params),
        exchanged in one meeting of the members."""
        for _, _, params in items:
            self.check(params)
        if all(prim is coll.axis_index_p for prim, _, _ in items):
            return [np.asarray(self.first + index, np.int32) for _ in items]
        self.slots[index] = [value for _, value, _ in items]
        self.barrier.wait()
        if index == 0:
            try:
                self.result = [self._combine_item(k, prim, params)
                               for k, (prim, _, params) in enumerate(items)]
            except BaseException as e:  # every member raises it
                self.result = e
        self.barrier.wait()
        result = self.result
        if isinstance(result, BaseException):
            raise result
        return [r[index] for r in result]

    def _combine_item(self, k: int, prim: Primitive, params: dict) -> list[np.ndarray]:
        return combine_members(prim, params, [slot[k] for slot in self.slots], self.first,
                               self.count)


def combine_members(prim: Primitive, params: dict, parts: Sequence[Any], first: int,
                    count: int) -> list[np.ndarray]:
    """Results of the local members ``first .. first + count`` of collective ``prim``, given
    their operands ``parts`` (gathered from every process)."""
    if prim is coll.axis_index_p:
        return [np.asarray(first + i, np.int32) for i in range(count)]
    parts = [np.asarray(p) for p in parts]
    stacked = SCRATCH.take((len(parts), *parts[0].shape), parts[0].dtype)
    try:
        np.stack(parts, out=stacked)
        return _combine(prim, distributed.allgather(stacked), params, first, count)
    finally:
        SCRATCH.give([stacked])


class DeviceInterpreter(Interpreter):
    """The interpreter of one device's thread: collectives go through the exchange, every
    other primitive runs eagerly (reference implementations, compiled jit calls). ``gpu`` is
    the device's opened GPU (``wgsl.device.Gpu``), None for a CPU device."""

    name = "pmap_device"

    def __init__(self, exchange: Exchange, index: int, gpu: Any = None):
        self.exchange = exchange
        self.index = index
        self.gpu = gpu

    def run_collectives(self, eqns: Sequence[JaxprEqn], args: Sequence[Any]) -> list[Any]:
        """The results of the independent collective equations ``eqns`` on their operands
        ``args`` (one per equation; None for ``axis_index``), exchanged together: GPU operands
        are read back with one submit and the results uploaded to this device's GPU."""
        exchange = self.exchange
        results: list[Any] = [None] * len(eqns)
        pending = []
        for k, (eqn, arg) in enumerate(zip(eqns, args, strict=True)):
            exchange.check(eqn.params)
            if exchange.count == 1 and exchange.axis_size == 1 and \
                    eqn.primitive in (coll.psum_p, coll.pmax_p, coll.pmin_p):
                results[k] = arg  # a reduction over one member is the operand itself
            else:
                pending.append(k)
        hosts, borrowed = _read_back([args[k] for k in pending], self.gpu)
        try:
            outs = exchange.run_many(self.index, [(eqns[k].primitive, h, eqns[k].params)
                                                  for k, h in zip(pending, hosts, strict=True)])
        finally:
            SCRATCH.give(borrowed)
        for k, out in zip(pending, outs, strict=True):
            aval = eqns[k].outvars[0].aval
            host = np.asarray(out, aval.dtype)
            results[k] = host if self.gpu is None else _upload(host, aval, self.gpu)
        return results

    def process_primitive(self, prim: Primitive, args: Sequence[Any], params: dict) -> Any:
        if prim not in COLLECTIVES:
            return BASE_INTERPRETER.process_primitive(prim, args, params)
        value = np.asarray(args[0]) if args else None
        out = self.exchange.run(self.index, prim, value, params)
        aval = prim.abstract_eval(*[get_aval(a) for a in args], **params)
        return ArrayImpl(np.asarray(out, aval.dtype), aval.weak_type)


class Scratch:
    """Host arrays reused across collectives, by (shape, dtype): each ``take`` owns its array
    until ``give``. Reuse matters: a fresh large array costs page faults on first touch (on
    some VMs a few GB/s), more than the copy itself. Holds at most ``cap`` idle bytes."""

    def __init__(self, cap: int = 1 << 30):
        self.cap = cap
        self.lock = threading.Lock()
        self.free: dict[tuple[Any, ...], list[np.ndarray]] = {}
        self.idle = 0

    def take(self, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
        with self.lock:
            stack = self.free.get((shape, np.dtype(dtype)))
            if stack:
                out = stack.pop()
                self.idle -= out.nbytes
                return out
        return np.empty(shape, dtype)

    def give(self, arrays: Sequence[np.ndarray]) -> None:
        with self.lock:
            for a in arrays:
                if self.idle + a.nbytes <= self.cap:
                    self.free.setdefault((a.shape, a.dtype), []).append(a)
                    self.idle += a.nbytes


SCRATCH = Scratch()


def _read_back(values: Sequence[Any], device: Any
               ) -> tuple[list[np.ndarray | None], list[np.ndarray]]:
    """Host copies of ``values`` and the scratch arrays among them (to give back once used);
    those on ``device`` (a GPU) are copied to staging buffers with one submit, then from the
    mapped staging memory straight into scratch arrays."""
    from fborn.core.gpu_array import GpuArray

    out: list[np.ndarray | None] = []
    on_gpu = []
    for i, v in enumerate(values):
        if type(v) is GpuArray and device is not None and v.device_buffer.gpu is device:
            on_gpu.append(i)
            out.append(None)
        else:
            out.append(None if v is None else np.asarray(v))
    if not on_gpu:
        return out, []
    from fborn.lowering.wgsl.device import storage_bytes, storage_dtype

    avals = [values[i].aval for i in on_gpu]
    stored = [storage_dtype(a.dtype) for a in avals]
    hosts = [SCRATCH.take(a.shape, s) for a, s in zip(avals, stored, strict=True)]

    def copy_out(j: int, raw: np.ndarray) -> None:
        np.copyto(hosts[j].reshape(-1), raw[:avals[j].size * stored[j].itemsize].view(stored[j]))

    device.read_into([values[i].device_buffer for i in on_gpu],
                     [storage_bytes(a.size, a.dtype) for a in avals], copy_out)
    borrowed = []
    for i, aval, kind, host in zip(on_gpu, avals, stored, hosts, strict=True):
        if kind != aval.dtype:  # bool, stored as uint32
            out[i] = host != 0
            SCRATCH.give([host])
        else:
            out[i] = host
            borrowed.append(host)
    return out, borrowed


def _lockstep_collectives(eqns: Sequence[JaxprEqn], operands: Sequence[Sequence[Any]],
                          gpus: Sequence[Any], exchange: Exchange) -> list[list[Any]]:
    """Every GPU's results of the collective equations ``eqns`` (``operands[i]``: GPU ``i``'s
    operands, None for ``axis_index``): operands read back GPU by GPU (all of them already
    have their work queued), combined on the host (across processes too), uploaded."""
    for eqn in eqns:
        exchange.check(eqn.params)
    hosts, borrowed = [], []
    for gpu, args in zip(gpus, operands, strict=True):
        got, lent = _read_back(args, gpu)
        hosts.append(got)
        borrowed += lent
    results: list[list[Any]] = [[None] * len(eqns) for _ in gpus]
    try:
        for k, eqn in enumerate(eqns):
            outs = combine_members(eqn.primitive, eqn.params, [h[k] for h in hosts],
                                   exchange.first, exchange.count)
            aval = eqn.outvars[0].aval
            for i, gpu in enumerate(gpus):
                results[i][k] = _upload(np.asarray(outs[i], aval.dtype), aval, gpu)
    finally:
        SCRATCH.give(borrowed)
    return results


def _upload(host: np.ndarray, aval: ShapedArray, device: Any) -> Any:
    """``host`` as a GpuArray of ``aval`` on ``device`` (an opened GPU)."""
    from fborn.core.gpu_array import GpuArray
    from fborn.lowering.wgsl.executable import fborn_device

    return GpuArray(device.upload(np.ascontiguousarray(host, aval.dtype), aval.dtype),
                    ShapedArray(aval.shape, aval.dtype, aval.weak_type), fborn_device(device))


def _to_device(value: Any, aval: ShapedArray, device: Any) -> Any:
    """An operand as this device wants it: a GpuArray on ``device`` (a GPU), or a numpy
    array (``device`` None)."""
    from fborn.core.gpu_array import GpuArray

    if device is None:
        return value if type(value) is np.ndarray else np.asarray(value)
    if type(value) is GpuArray and value.device_buffer.gpu is device:
        return value
    return _upload(np.asarray(value), aval, device)


# --- programs cut at host equations ------------------------------------------------------------

def _subjaxprs(value: Any) -> list[Jaxpr]:
    if isinstance(value, ClosedJaxpr):
        return [value.jaxpr]
    if isinstance(value, Jaxpr):
        return [value]
    if isinstance(value, (tuple, list)):
        return [j for v in value for j in _subjaxprs(v)]
    return []


def _eqn_needs_host(eqn: JaxprEqn) -> bool:
    if eqn.primitive is pmap_p or eqn.primitive in COLLECTIVES:
        return True
    return any(needs_host(j) for v in eqn.params.values() for j in _subjaxprs(v))


def needs_host(jaxpr: Jaxpr) -> bool:
    """True when ``jaxpr`` (or a jaxpr nested in it) holds ``pmap_p`` or a collective, which
    no kernel can run: such a jaxpr runs as a ``SplitProgram``."""
    return any(_eqn_needs_host(e) for e in jaxpr.eqns)


class _Segment:
    """Consecutive equations compiled as one program: reads ``invars``, writes ``outvars``;
    ``fn`` runs it with numba, ``run_gpu`` on a GPU (compiled for each GPU on first use)."""

    __slots__ = ("invars", "outvars", "_fn", "closed", "weak")

    def __init__(self, eqns: list[JaxprEqn], live_after: set[int]):
        defined: set[int] = set()
        invars: list[Var] = []
        for eqn in eqns:
            for a in eqn.invars:
                if isinstance(a, Var) and id(a) not in defined:
                    invars.append(a)
                    defined.add(id(a))
            defined.update(id(v) for v in eqn.outvars)
        self.invars = invars
        self.outvars = [v for e in eqns for v in e.outvars if id(v) in live_after]
        self.closed = ClosedJaxpr(Jaxpr([], invars, self.outvars, eqns), [])
        self.weak = [v.aval.weak_type for v in self.outvars]
        self._fn: Callable[..., list[np.ndarray]] | None = None

    @property
    def fn(self) -> Callable[..., list[np.ndarray]]:
        """The host executable (compiled on first use)."""
        if self._fn is None:
            self._fn = _segment_executable(self.closed)
        return self._fn

    def run_gpu(self, device: Any, values: Sequence[Any]) -> list[Any]:
        """Run on the opened GPU ``device``; returns GpuArrays (nothing is read back)."""
        from fborn.lowering.wgsl.executable import executable_for

        if not self.outvars:
            return []
        return executable_for(self.closed, device).call_on_device(*values,
                                                                   weak_types=self.weak)


def _segment_executable(closed: ClosedJaxpr) -> Callable[..., list[np.ndarray]]:
    if config.jit_compiler == "numba":
        from fborn.lowering.schedule import LoweringError

        try:
            return jit_module.compiled(closed)
        except LoweringError:
            pass
    return functools.partial(jit_module._evaluate, closed)


class _Collectives:
    """Consecutive collective equations, none reading another's result: exchanged together."""

    __slots__ = ("eqns", "outputs")

    def __init__(self, eqn: JaxprEqn):
        self.eqns = [eqn]
        self.outputs = {id(v) for v in eqn.outvars}

    def admits(self, eqn: JaxprEqn) -> bool:
        return eqn.primitive in COLLECTIVES and not any(
            isinstance(a, Var) and id(a) in self.outputs for a in eqn.invars)

    def add(self, eqn: JaxprEqn) -> None:
        self.eqns.append(eqn)
        self.outputs.update(id(v) for v in eqn.outvars)

    def __repr__(self) -> str:
        return "; ".join(repr(e) for e in self.eqns)


Step = _Segment | _Collectives | JaxprEqn


class SplitProgram:
    """A jaxpr run as compiled segments between host steps: groups of collectives, and pmap
    calls or calls or loops holding collectives, which are bound under the current
    interpreter. Called with ``gpu=`` (an opened GPU), the segments run there and values stay
    GpuArrays; otherwise they run on the host (numba)."""

    def __init__(self, closed: ClosedJaxpr):
        self.closed = closed
        jaxpr = closed.jaxpr
        groups: list[list[JaxprEqn] | _Collectives | JaxprEqn] = []
        for eqn in jaxpr.eqns:
            last = groups[-1] if groups else None
            if eqn.primitive in COLLECTIVES:
                if isinstance(last, _Collectives) and last.admits(eqn):
                    last.add(eqn)
                else:
                    groups.append(_Collectives(eqn))
            elif _eqn_needs_host(eqn):
                groups.append(eqn)
            elif isinstance(last, list):
                last.append(eqn)
            else:
                groups.append([eqn])
        live = {id(v) for v in jaxpr.outvars if isinstance(v, Var)}
        steps: list[Step] = []
        for group in reversed(groups):
            if isinstance(group, list):
                steps.append(_Segment(group, live))
                eqns = group
            else:
                steps.append(group)
                eqns = group.eqns if isinstance(group, _Collectives) else [group]
            for eqn in eqns:
                live.update(id(a) for a in eqn.invars if isinstance(a, Var))
        steps.reverse()
        self.steps = steps

    @property
    def source(self) -> str:
        """The generated code of the compiled segments, host equations between them."""
        parts = []
        for step in self.steps:
            if isinstance(step, _Segment):
                parts.append(getattr(step.fn, "source", str(step.closed)))
            else:
                parts.append(f"# on the host: {step!r}")
        return "\n".join(parts)

    def __call__(self, *values: Any, gpu: Any = None) -> list[Any]:
        jaxpr = self.closed.jaxpr
        env: dict[int, Any] = {}
        for v, x in zip(jaxpr.constvars, self.closed.consts, strict=True):
            env[id(v)] = np.asarray(x)
        for v, x in zip(jaxpr.invars, values, strict=True):
            env[id(v)] = x

        def read(a: Any) -> Any:
            return a.value._value if isinstance(a, Literal) else env[id(a)]

        for step in self.steps:
            if isinstance(step, _Segment):
                args = [env[id(v)] for v in step.invars]
                outs = step.fn(*args) if gpu is None else step.run_gpu(gpu, args)
                for v, x in zip(step.outvars, outs, strict=True):
                    env[id(v)] = x
            elif isinstance(step, _Collectives):
                self._collectives(step, env, read)
            else:
                args = [ArrayImpl(np.asarray(read(a)), a.aval.weak_type) for a in step.invars]
                outs = step.primitive.bind(*args, **step.params)
                for v, x in zip(step.outvars,
                                outs if step.primitive.multiple_results else [outs],
                                strict=True):
                    env[id(v)] = np.asarray(x)
        if gpu is None:
            return [np.asarray(read(a)) for a in jaxpr.outvars]
        return [_to_device(read(a), a.aval, gpu) for a in jaxpr.outvars]

    @property
    def lockstep_ready(self) -> bool:
        """Whether every step is a segment or a group of collectives (no host equation that
        binds collectives under a device interpreter), so ``lockstep`` can run it."""
        return all(isinstance(step, (_Segment, _Collectives)) for step in self.steps)

    def lockstep(self, values: Sequence[Sequence[Any]], gpus: Sequence[Any],
                 exchange: Exchange) -> list[list[Any]]:
        """Run on several GPUs from this one thread: each segment is recorded on every GPU in
        turn (the GPUs then work at the same time), each group of collectives reads every
        GPU's operands back, combines them on the host and uploads the results. ``values[i]``
        are GPU ``i``'s inputs; returns each GPU's outputs (GpuArrays)."""
        jaxpr = self.closed.jaxpr
        envs: list[dict[int, Any]] = []
        for gpu, inputs in zip(gpus, values, strict=True):
            env = {id(v): _to_device(np.asarray(x), v.aval, gpu)
                   for v, x in zip(jaxpr.constvars, self.closed.consts, strict=True)}
            env.update((id(v), x) for v, x in zip(jaxpr.invars, inputs, strict=True))
            envs.append(env)

        def read(env: dict[int, Any], a: Any) -> Any:
            return a.value._value if isinstance(a, Literal) else env[id(a)]

        for step in self.steps:
            if isinstance(step, _Segment):
                for gpu, env in zip(gpus, envs, strict=True):
                    outs = step.run_gpu(gpu, [env[id(v)] for v in step.invars])
                    env.update((id(v), x) for v, x in zip(step.outvars, outs, strict=True))
            else:
                operands = [[read(env, e.invars[0]) if e.invars else None for e in step.eqns]
                            for env in envs]
                results = _lockstep_collectives(step.eqns, operands, gpus, exchange)
                for env, outs in zip(envs, results, strict=True):
                    env.update((id(e.outvars[0]), x)
                               for e, x in zip(step.eqns, outs, strict=True))
        return [[_to_device(read(env, a), a.aval, gpu) for a in jaxpr.outvars]
                for gpu, env in zip(gpus, envs, strict=True)]

    @staticmethod
    def _collectives(step: _Collectives, env: dict[int, Any], read: Callable[[Any], Any]
                     ) -> None:
        interpreter = current_interpreter()
        if isinstance(interpreter, DeviceInterpreter):
            args = [read(e.invars[0]) if e.invars else None for e in step.eqns]
            outs = interpreter.run_collectives(step.eqns, args)
        else:
            outs = [np.asarray(e.primitive.bind(*[ArrayImpl(np.asarray(read(a)),
                                                            a.aval.weak_type)
                                                  for a in e.invars], **e.params))
                    for e in step.eqns]
        for eqn, out in zip(step.eqns, outs, strict=True):
            env[id(eqn.outvars[0])] = out


# --- running on the devices --------------------------------------------------------------------

def _shards_of(value: Any, axis: int | None, aval: ShapedArray, devices: tuple[Device, ...]
               ) -> list[Any]:
    """One operand's per-device values (a ShardedArray split the same way is not gathered:
    its GPU shards are passed on as they are)."""
    if (isinstance(value, ShardedArray) and axis is not None and value.axis == axis
            and tuple(value._devices) == devices):
        return [s._value if type(s) is ArrayImpl else s for s in value.shards]
    host = np.asarray(value)
    if host.dtype != aval.dtype:
        host = host.astype(aval.dtype)
    if axis is None:
        return [host] * len(devices)
    return [np.asarray(host[(slice(None),) * axis + (i,)]) for i in range(len(devices))]


def _program_for(closed: ClosedJaxpr) -> Callable[..., list[np.ndarray]]:
    if needs_host(closed.jaxpr) or config.jit_compiler == "numba":
        return jit_module.compiled(closed)
    return functools.partial(jit_module._evaluate, closed)


_gpu_programs: PerJaxpr[SplitProgram] = PerJaxpr()


def _gpu_program_for(closed: ClosedJaxpr) -> SplitProgram:
    """The (cached) SplitProgram of ``closed`` for GPU devices (segments compile per GPU)."""
    return _gpu_programs.get(closed, lambda: SplitProgram(closed))


def _opened(device: Device) -> Any:
    """The opened GPU of a GPU device, None for a CPU device."""
    if device.platform != "gpu":
        return None
    from fborn.lowering.wgsl.device import gpu

    return gpu(device.id)


def run_on_devices(jaxpr: ClosedJaxpr, values: Sequence[Any], *, axis_name: Any,
                   axis_size: int, in_axes: tuple, devices: tuple[Device, ...]
                   ) -> list[list[np.ndarray]]:
    """Run the per-device ``jaxpr`` on every local device; returns, per output, the list of
    the devices' values."""
    count = len(devices)
    per_input = [_shards_of(v, ax, a, devices)
                 for v, ax, a in zip(values, in_axes, jaxpr.in_avals, strict=True)]
    gpus = [_opened(d) for d in devices]
    host_program = _program_for(jaxpr) if None in gpus else None
    gpu_program = _gpu_program_for(jaxpr) if any(g is not None for g in gpus) else None
    exchange = Exchange(count, axis_name, axis_size)
    if count > 1 and host_program is None and gpu_program.lockstep_ready:
        env = extend_axis_env(axis_name, axis_size) if axis_name is not None else \
            contextlib.nullcontext()
        with env:
            args = [[_to_device(vals[i], a, gpus[i])
                     for vals, a in zip(per_input, jaxpr.in_avals, strict=True)]
                    for i in range(count)]
            return [list(outs) for outs in zip(*gpu_program.lockstep(args, gpus, exchange),
                                               strict=True)]
    results: list[Any] = [None] * count
    errors: list[BaseException | None] = [None] * count

    def work(i: int) -> None:
        try:
            env = extend_axis_env(axis_name, axis_size) if axis_name is not None else \
                contextlib.nullcontext()
            device = gpus[i]
            with env, set_interpreter(DeviceInterpreter(exchange, i, device)):
                if device is None:
                    results[i] = host_program(*[_to_device(vals[i], a, None) for vals, a in
                                                zip(per_input, jaxpr.in_avals, strict=True)])
                else:
                    args = [_to_device(vals[i], a, device)
                            for vals, a in zip(per_input, jaxpr.in_avals, strict=True)]
                    results[i] = gpu_program(*args, gpu=device)
        except BaseException as e:
            errors[i] = e
            exchange.abort()

    threads = [threading.Thread(target=work, args=(i,), daemon=True) for i in range(1, count)]
    with short_switch_interval() if threads and gpu_program else contextlib.nullcontext():
        for t in threads:
            t.start()
        work(0)
        for t in threads:
            t.join()
    failures = [e for e in errors if e is not None]
    if failures:
        real = [e for e in failures if not isinstance(e, threading.BrokenBarrierError)]
        raise (real or failures)[0]
    return [list(outs) for outs in zip(*results, strict=True)]


def _gather(per_device: list[np.ndarray], axis: int | None) -> np.ndarray:
    return per_device[0] if axis is None else np.stack(per_device, axis=axis)


# --- the primitive and its rules ---------------------------------------------------------------

def _without(shape: tuple[int, ...], axis: int | None) -> tuple[int, ...]:
    return shape if axis is None else shape[:axis] + shape[axis + 1:]


def _with(shape: tuple[int, ...], axis: int | None, size: int) -> tuple[int, ...]:
    return shape if axis is None else (*shape[:axis], size, *shape[axis:])


@pmap_p.def_abstract_eval
def _pmap_abstract(*avals: ShapedArray, jaxpr: ClosedJaxpr, axis_name: Any, axis_size: int,
                   in_axes: tuple, out_axes: tuple, devices: tuple, name: str
                   ) -> list[ShapedArray]:
    count = len(devices)
    expected = jaxpr.in_avals
    bad = len(avals) != len(expected)
    for a, ax, want in zip(avals, in_axes, expected, strict=False):
        bad = bad or (ax is not None and (a.ndim <= ax or a.shape[ax] != count)) or \
            _without(a.shape, ax) != want.shape or a.dtype != want.dtype
    if bad:
        raise FbornShapeError(
            f"pmap-compiled function {name} over {count} devices expects per-device inputs "
            f"{[a.str_short() for a in expected]} mapped at {list(in_axes)}, got "
            f"{[a.str_short() for a in avals]}")
    return [ShapedArray(_with(a.shape, ax, count), a.dtype, a.weak_type)
            for a, ax in zip(jaxpr.out_avals, out_axes, strict=True)]


@pmap_p.def_impl
def _pmap_impl(*values: np.ndarray, jaxpr: ClosedJaxpr, axis_name: Any, axis_size: int,
               in_axes: tuple, out_axes: tuple, devices: tuple, name: str) -> list[np.ndarray]:
    outs = run_on_devices(jaxpr, values, axis_name=axis_name, axis_size=axis_size,
                          in_axes=in_axes, devices=devices)
    return [_gather(o, ax) for o, ax in zip(outs, out_axes, strict=True)]


def _pmap_jvp(primals: list, tangents: list, *, jaxpr: ClosedJaxpr, in_axes: tuple,
              out_axes: tuple, name: str, **params: Any) -> tuple[list, list]:
    nonzeros = [type(t) is not Zero for t in tangents]
    jvp_closed, out_nonzeros = jvp_jaxpr(jaxpr, nonzeros, instantiate=False)
    t_in = tuple(ax for ax, nz in zip(in_axes, nonzeros, strict=True) if nz)
    t_out = tuple(ax for ax, nz in zip(out_axes, out_nonzeros, strict=True) if nz)
    outs = pmap_p.bind(*primals, *[t for t in tangents if type(t) is not Zero],
                       jaxpr=jvp_closed, in_axes=in_axes + t_in, out_axes=out_axes + t_out,
                       name=f"jvp({name})", **params)
    n = len(out_axes)
    primal_outs, tangent_iter = outs[:n], iter(outs[n:])
    out_tangents = [next(tangent_iter) if nz else Zero(tangent_aval(get_aval(p)))
                    for p, nz in zip(primal_outs, out_nonzeros, strict=True)]
    return primal_outs, out_tangents


def _pmap_partial_eval(pe: Any, args: Sequence[Any], params: dict) -> list[Any]:
    closed: ClosedJaxpr = params["jaxpr"]
    in_axes, out_axes = params["in_axes"], params["out_axes"]
    unknowns = [pe.is_unknown(a) for a in args]
    split = partial_eval_jaxpr(closed, unknowns)
    known_args = [a for a, u in zip(args, unknowns, strict=True) if not u]
    known_in = tuple(ax for ax, u in zip(in_axes, unknowns, strict=True) if not u)
    known_out = tuple(ax for ax, u in zip(out_axes, split.out_unknowns, strict=True) if not u)
    with set_interpreter(pe.parent):
        known_outs = pmap_p.bind(*known_args, **{
            **params, "jaxpr": split.known, "in_axes": known_in,
            "out_axes": known_out + (0,) * split.num_res})
    n_known = len(known_out)
    residuals = known_outs[n_known:]
    unknown_args = [a for a, u in zip(args, unknowns, strict=True) if u]
    unknown_in = (0,) * split.num_res + tuple(
        ax for ax, u in zip(in_axes, unknowns, strict=True) if u)
    unknown_out = tuple(ax for ax, u in zip(out_axes, split.out_unknowns, strict=True) if u)
    atoms = [pe.to_atom(a) for a in (*residuals, *unknown_args)]
    unknown_outs = pe.add_eqn(pmap_p, atoms, {**params, "jaxpr": split.unknown,
                                              "in_axes": unknown_in, "out_axes": unknown_out})
    known_iter, unknown_iter = iter(known_outs[:n_known]), iter(unknown_outs)
    return [next(unknown_iter) if u else next(known_iter) for u in split.out_unknowns]


def _pmap_transpose(cts: list, *args: Any, jaxpr: ClosedJaxpr, in_axes: tuple,
                    out_axes: tuple, name: str, **params: Any) -> list:
    from fborn.lax import _ops as lax

    linear = [is_undefined(a) for a in args]
    transposed = transpose_jaxpr(jaxpr, linear)
    nonlinear = [a for a in args if not is_undefined(a)]
    nonlinear_in = tuple(ax for ax, lin in zip(in_axes, linear, strict=True) if not lin)
    linear_axes = [ax for ax, lin in zip(in_axes, linear, strict=True) if lin]
    count = len(params["devices"])
    cts = [_first_device_only(instantiate(c), count) if ax is None else instantiate(c)
           for c, ax in zip(cts, out_axes, strict=True)]
    outs = pmap_p.bind(*nonlinear, *cts, jaxpr=transposed,
                       in_axes=nonlinear_in + tuple(0 for _ in out_axes),
                       out_axes=tuple(0 if ax is None else ax for ax in linear_axes),
                       name=f"transpose({name})", **params)
    it = iter(zip(outs, linear_axes, strict=True))
    result = []
    for lin in linear:
        if not lin:
            result.append(None)
            continue
        ct, ax = next(it)
        result.append(lax.reduce_sum(ct, (0,)) if ax is None else ct)
    return result


def _first_device_only(ct: Any, count: int) -> Any:
    """The cotangent of an ``out_axes=None`` output (device 0's value) as a mapped value:
    ``ct`` for device 0, zeros for the others."""
    from fborn.lax import _ops as lax

    aval = get_aval(ct)
    row = lax.broadcast_in_dim(ct, (1, *aval.shape), tuple(range(1, aval.ndim + 1)))
    if count == 1:
        return row
    zero = lax.convert_element_type(0, aval.dtype)
    rest = lax.broadcast_in_dim(zero, (count - 1, *aval.shape), ())
    return lax.concatenate([row, rest], 0)


def _pmap_batch(axis: Any, values: list, dims: list, *, jaxpr: ClosedJaxpr, in_axes: tuple,
                out_axes: tuple, name: str, **params: Any) -> tuple[list, list]:
    in_batched = [d is not None for d in dims]
    batched, out_batched = batch_jaxpr(jaxpr, axis, in_batched, instantiate=False)
    moved, new_in = [], []
    for v, d, ax in zip(values, dims, in_axes, strict=True):
        if d is None:
            moved.append(v)
            new_in.append(ax)
            continue
        moved.append(move_axis(v, d, 0, axis.size))
        new_in.append(None if ax is None else ax + 1)
    new_out = tuple(ax + 1 if b and ax is not None else ax
                    for ax, b in zip(out_axes, out_batched, strict=True))
    outs = pmap_p.bind(*moved, jaxpr=batched, in_axes=tuple(new_in), out_axes=new_out,
                       name=f"vmap({name})", **params)
    return outs, [0 if b else None for b in out_batched]


pmap_p.jvp = _pmap_jvp
pmap_p.transpose = _pmap_transpose
pmap_p.batch = _pmap_batch
pmap_p.partial_eval = _pmap_partial_eval


# --- the user-facing transform -----------------------------------------------------------------

def _normalize_axis(axis: Any, ndim: int, what: str) -> int | None:
    if axis is None:
        return None
    if not isinstance(axis, int) or isinstance(axis, bool):
        raise TypeError(f"pmap {what} entries must be ints or None, got {axis!r}")
    if not -ndim <= axis < ndim:
        raise ValueError(f"pmap {what} {axis} is out of bounds for a value of rank "
                         f"{ndim if what == 'in_axes' else ndim - 1}")
    return axis % ndim


def _static_key(value: Any, position: int) -> Any:
    try:
        hash(value)
    except TypeError:
        raise ValueError(f"Non-hashable static arguments are not supported: the static "
                         f"argument at position {position} has type "
                         f"{type(value).__name__}") from None
    return (type(value), value)


class _Traced:
    """One traced signature of a pmapped function."""

    __slots__ = ("jaxpr", "consts", "out_tree", "out_axes")

    def __init__(self, jaxpr: ClosedJaxpr, consts: list[Any], out_tree: Any,
                 out_axes: tuple):
        self.jaxpr, self.consts, self.out_tree, self.out_axes = \
            jaxpr, consts, out_tree, out_axes


class Pmapped:
    """A pmap-wrapped function: call it like the original with the mapped axes of its inputs
    of size = number of local devices used; ``trace_count`` counts retraces."""

    def __init__(self, fun: Callable[..., Any], axis_name: Any, in_axes: Any, out_axes: Any,
                 static_broadcasted_argnums: Sequence[int], devices: Sequence[Device] | None,
                 axis_size: int | None):
        functools.update_wrapper(self, fun)
        self.fun = fun
        self.axis_name = axis_name
        self.in_axes = tuple(in_axes) if isinstance(in_axes, list) else in_axes
        self.out_axes = out_axes
        self.static_argnums = tuple(static_broadcasted_argnums)
        self.devices = None if devices is None else tuple(devices)
        self.axis_size = axis_size
        self._cache: dict[Any, _Traced] = {}
        self._lock = threading.Lock()
        self.trace_count = 0

    def _flatten_args(self, args: tuple, kwargs: dict
                      ) -> tuple[list[Any], Any, list[int | None], tuple, list[int]]:
        nargs = len(args)
        static_pos = sorted({i % nargs for i in self.static_argnums if -nargs <= i < nargs})
        if isinstance(self.in_axes, tuple) and len(self.in_axes) != nargs:
            raise ValueError(f"pmap in_axes must be an int, None, or a tuple of entries "
                             f"corresponding to the positional arguments passed to the "
                             f"function, but got len(in_axes)={len(self.in_axes)}, "
                             f"len(args)={nargs}")
        dyn = tuple(a for i, a in enumerate(args) if i not in static_pos)
        specs = tuple(self.in_axes[i] if isinstance(self.in_axes, tuple) else self.in_axes
                      for i in range(nargs) if i not in static_pos)
        leaves, in_tree = tree_flatten((dyn, kwargs))
        flat_specs = broadcast_prefix((specs, 0), (dyn, kwargs), "pmap in_axes")
        dims = [_normalize_axis(s, abstractify(x).ndim, "in_axes")
                for s, x in zip(flat_specs, leaves, strict=True)]
        static = tuple(_static_key(args[i], i) for i in static_pos)
        return leaves, in_tree, dims, static, static_pos

    def _mapped_size(self, leaves: list[Any], dims: list[int | None]) -> int:
        sizes = {abstractify(x).shape[d] for x, d in zip(leaves, dims, strict=True)
                 if d is not None}
        if self.axis_size is not None:
            sizes.add(int(self.axis_size))
        if not sizes:
            raise ValueError("pmap must have at least one non-None value in in_axes (or be "
                             "given axis_size)")
        if len(sizes) > 1:
            detail = ", ".join(f"axis {d} of an argument of shape {abstractify(x).shape}"
                               for x, d in zip(leaves, dims, strict=True) if d is not None)
            raise ValueError(f"pmap got inconsistent sizes for array axes to be mapped: "
                             f"{detail}")
        return sizes.pop()

    def _trace(self, args: tuple, kwargs: dict, leaves: list[Any], in_tree: Any,
               dims: list[int | None], static_pos: list[int], count: int, axis_size: int
               ) -> _Traced:
        avals = [abstractify(x) for x in leaves]
        per_device = [ShapedArray(_without(a.shape, d), a.dtype, a.weak_type)
                      for a, d in zip(avals, dims, strict=True)]
        out_box: list[Any] = []

        def flat_fun(*flat: Any) -> list[Any]:
            dyn, kw = tree_unflatten(in_tree, flat)
            it = iter(dyn)
            full = [args[i] if i in static_pos else next(it) for i in range(len(args))]
            out_leaves, out_tree = tree_flatten(self.fun(*full, **kw))
            out_box.append(out_tree)
            return out_leaves

        self.trace_count += 1
        env = extend_axis_env(self.axis_name, axis_size) if self.axis_name is not None \
            else contextlib.nullcontext()
        with env:
            closed = trace_to_jaxpr(flat_fun, per_device)
        opened, consts = jit_module.close_over_consts(closed)
        out_tree = out_box[0]
        skeleton = tree_unflatten(out_tree, [np.zeros(())] * out_tree.num_leaves)
        specs = broadcast_prefix(self.out_axes, skeleton, "pmap out_axes")
        out_axes = tuple(_normalize_axis(s, a.ndim + 1, "out_axes")
                         for s, a in zip(specs, closed.out_avals, strict=True))
        return _Traced(opened, consts, out_tree, out_axes)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        leaves, in_tree, dims, static, static_pos = self._flatten_args(args, kwargs)
        count = self._mapped_size(leaves, dims)
        devices = _choose_devices(count, self.devices)
        axis_size = count * distributed.process_count() if self.devices is None else \
            len(self.devices)
        key = (in_tree, tuple(abstractify(x) for x in leaves), tuple(dims), static, devices,
               axis_size)
        with self._lock:
            traced = self._cache.get(key)
        if traced is None:
            traced = self._trace(args, kwargs, leaves, in_tree, dims, static_pos, count,
                                 axis_size)
            if not any(isinstance(c, Tracer) for c in traced.consts):
                with self._lock:
                    self._cache[key] = traced
        in_axes = (None,) * len(traced.consts) + tuple(dims)
        params = dict(jaxpr=traced.jaxpr, axis_name=self.axis_name, axis_size=axis_size,
                      in_axes=in_axes, out_axes=traced.out_axes, devices=devices,
                      name=getattr(self.fun, "__name__", "fun"))
        if current_interpreter() is BASE_INTERPRETER:
            outs = self._run(traced, leaves, params)
        else:
            outs = pmap_p.bind(*traced.consts, *leaves, **params)
        return tree_unflatten(traced.out_tree, outs)

    @staticmethod
    def _run(traced: _Traced, leaves: list[Any], params: dict) -> list[ShardedArray]:
        """The eager path: run on the devices and keep the outputs sharded."""
        per_out = run_on_devices(params["jaxpr"], [*traced.consts, *leaves],
                                 axis_name=params["axis_name"],
                                 axis_size=params["axis_size"], in_axes=params["in_axes"],
                                 devices=params["devices"])
        return [ShardedArray(shards, ax, list(params["devices"]), a.weak_type)
                for shards, ax, a in zip(per_out, traced.out_axes, traced.jaxpr.out_avals,
                                         strict=True)]


def pmap(fun: Callable[..., Any] | None = None, axis_name: Any = None, *, in_axes: Any = 0,
         out_axes: Any = 0, static_broadcasted_argnums: int | Sequence[int] = (),
         devices: Sequence[Device] | None = None, backend: str | None = None,
         axis_size: int | None = None, donate_argnums: int | Sequence[int] = (),
         global_arg_shapes: Any = None) -> Any:
    """Run ``fun`` in parallel on devices: axis ``in_axes`` of each input is split, one slice
    per device; outputs are stacked at ``out_axes`` as ShardedArrays.

    ``axis_name`` names the mapped axis for collectives (``fborn.lax.psum``...); the mapped
    size must equal the number of devices used (the first ones of ``fborn.local_devices()``,
    or ``devices``): ValueError otherwise, as for inconsistent mapped sizes. With
    ``fborn.distributed.initialize()``, each process passes its local slice and collectives
    span all processes' devices. ``static_broadcasted_argnums`` marks hashable arguments
    baked into the trace and given to every device. ``backend``, ``donate_argnums`` and
    ``global_arg_shapes`` are accepted and ignored.
    """
    del backend, donate_argnums, global_arg_shapes
    nums = (static_broadcasted_argnums,) if isinstance(static_broadcasted_argnums, int) \
        else tuple(static_broadcasted_argnums)
    if fun is None:
        return lambda f: Pmapped(f, axis_name, in_axes, out_axes, nums, devices, axis_size)
    return Pmapped(fun, axis_name, in_axes, out_axes, nums, devices, axis_size)
