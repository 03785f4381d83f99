"""Several processes, one computation: ``fborn.distributed.initialize()`` joins an MPI job.

Launch one Python process per machine (or per group of devices) with MPI::

    mpiexec -n 2 python -m mpi4py train.py       # MPICH (pip install mpi4py mpich)
    mpirun -n 4 --hostfile hosts python -m mpi4py train.py      # Open MPI, several machines

and call ``fborn.distributed.initialize()`` first thing in ``train.py``. (``-m mpi4py`` makes an
uncaught exception in one process abort the whole job instead of leaving the others waiting
in a collective.) Afterwards
``process_index()``/``process_count()`` say where this process stands, ``global_devices()``
lists the devices of every process (each ``Device`` records its ``process_index``), and the
collectives of ``fborn.pmap`` (``psum``, ``pmean``, ``all_gather``...) reduce across processes:
the devices of one process combine their buffers on the host, then one MPI collective on host
buffers joins the processes. Each process feeds ``pmap`` its own slice of the data (its local
devices' share) and gets its own shards back, as in JAX.

A cluster needs: the same Python environment (fborn, numpy, numba, mpi4py) on every node, an
MPI installation whose launcher can start processes on the nodes (``mpirun``/``srun`` with a
hostfile or a scheduler allocation) and a network between them; nothing else (no coordinator
address: MPI's launcher wires the processes together). mpi4py is an optional dependency
(``pip install fborn[mpi]``) and is imported by ``initialize`` only.

Host collectives gather every member's buffer (``Allgather``) and reduce in a fixed order, so
every process computes bitwise the same result and replicated parameters never drift apart.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from fborn.core.array import Device

__all__ = ["global_devices", "initialize", "is_initialized", "process_count", "process_index",
           "shutdown"]


class _State:
    """The MPI communicator of this process (None: a single-process run)."""

    comm: Any = None
    local_counts: tuple[int, ...] = ()


_state = _State()


def initialize(coordinator_address: str | None = None, num_processes: int | None = None,
               process_id: int | None = None, local_device_ids: Any = None) -> None:
    """Join the MPI job this process was launched in (``mpirun -n N python script.py``).

    The arguments exist for JAX compatibility: MPI's launcher already knows the processes, so
    ``coordinator_address`` and ``local_device_ids`` are ignored and ``num_processes`` /
    ``process_id``, when given, must agree with MPI's (ValueError otherwise). Raises
    RuntimeError when called twice and ImportError (naming the ``mpi`` extra) without mpi4py.
    """
    del coordinator_address, local_device_ids
    if _state.comm is not None:
        raise RuntimeError("fborn.distributed.initialize should only be called once.")
    try:
        from mpi4py import MPI
    except ImportError as e:
        raise ImportError("fborn.distributed.initialize needs mpi4py and an MPI library: "
                          "pip install 'fborn[mpi]' (mpi4py and mpich)") from e
    comm = MPI.COMM_WORLD
    if num_processes is not None and num_processes != comm.Get_size():
        raise ValueError(f"initialize(num_processes={num_processes}) but MPI started "
                         f"{comm.Get_size()} processes")
    if process_id is not None and process_id != comm.Get_rank():
        raise ValueError(f"initialize(process_id={process_id}) but this is MPI rank "
                         f"{comm.Get_rank()}")
    from fborn.transforms.pmap import local_device_list

    local = local_device_list()
    for device in local:  # this process's device objects now say which process owns them
        device.process_index = comm.Get_rank()
    _state.local_counts = tuple(comm.allgather(len(local)))
    _state.comm = comm


def shutdown() -> None:
    """Leave the job: later computations are local to this process again."""
    if _state.comm is not None:
        _state.comm.Barrier()
    _state.comm = None
    _state.local_counts = ()


def is_initialized() -> bool:
    """True between ``initialize()`` and ``shutdown()``."""
    return _state.comm is not None


def process_index() -> int:
    """This process's rank in the job (0 without ``initialize``)."""
    return 0 if _state.comm is None else _state.comm.Get_rank()


def process_count() -> int:
    """The number of processes in the job (1 without ``initialize``)."""
    return 1 if _state.comm is None else _state.comm.Get_size()


def device_offset() -> int:
    """The global index of this process's first device (devices are numbered by process)."""
    return sum(_state.local_counts[:process_index()])


def global_device_count() -> int:
    """The number of devices of all processes (``len(local)`` when not distributed)."""
    return sum(_state.local_counts)


def global_devices(local: list[Device]) -> list[Device]:
    """The devices of every process, in process order; ``local`` (this process's devices)
    appear as themselves, the others as ``Device`` records with their ``process_index``.

    ``fborn.devices()`` should return this; ``fborn.local_devices()`` is ``local``."""
    if _state.comm is None:
        return list(local)
    out: list[Device] = []
    platform = local[0].platform if local else "cpu"
    kind = local[0].device_kind if local else "cpu"
    start = 0
    for rank, count in enumerate(_state.local_counts):
        if rank == process_index():
            out.extend(local)
        else:
            out.extend(Device(platform, start + i, kind, rank) for i in range(count))
        start += count
    return out


def allgather(local: np.ndarray) -> np.ndarray:
    """Every process's ``local`` (same shape and dtype everywhere), stacked along a new leading
    axis then merged with ``local``'s leading axis: ``(sum of counts, *local.shape[1:])``.
    Without ``initialize`` it returns ``local``."""
    comm = _state.comm
    if comm is None:
        return local
    size = comm.Get_size()
    send = np.ascontiguousarray(local)
    recv = np.empty((size, *send.shape), send.dtype)
    comm.Allgather(send.view(np.uint8).reshape(-1), recv.view(np.uint8).reshape(-1))
    return recv.reshape(size * send.shape[0], *send.shape[1:])


def barrier() -> None:
    """Wait for every process (a no-op without ``initialize``)."""
    if _state.comm is not None:
        _state.comm.Barrier()
