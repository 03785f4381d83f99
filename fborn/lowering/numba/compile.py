"""Compile jaxprs to native code with numba, with in-memory and on-disk caches.

The generated module is written to ``$FBORN_CACHE_DIR`` (default: the user's cache folder) under
a name hashed from its source plus the fborn and numba versions, then imported as a real
module, so numba's own ``cache=True`` persists the machine code across processes. A corrupt
cache file is deleted and rebuilt. ``FBORN_DUMP_KERNELS=1`` prints each generated module and
its compile time.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import pickle
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

import fborn.lowering.numba.routines_indexing  # noqa: F401
import fborn.lowering.numba.routines_misc  # noqa: F401
import fborn.lowering.rules_control_flow  # noqa: F401
import fborn.lowering.rules_indexing  # noqa: F401
import fborn.lowering.rules_misc  # noqa: F401
from fborn.core.jaxpr import ClosedJaxpr, PerJaxpr
from fborn.lowering.kernel_ir import Program
from fborn.lowering.numba.cache_load import load_without_refresh
from fborn.lowering.numba.pool import OutputPool
from fborn.lowering.numba.render import HALF_DTYPES, pooled_outputs, render, scalar_inputs
from fborn.lowering.passes import optimize
from fborn.lowering.schedule import schedule

_lock = threading.Lock()
_memory: dict[str, Callable[..., Any]] = {}


def cache_dir() -> Path:
    """Where compiled modules live: ``$FBORN_CACHE_DIR`` or ``~/.cache/fborn``."""
    root = os.environ.get("FBORN_CACHE_DIR")
    if root:
        return Path(root)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "fborn"


def _version_tag() -> str:
    """Versions that invalidate cached kernels: fborn, numba, Python, and the helpers the
    kernels call (every module of the numba backend: numba's cache does not track a function's
    callees)."""
    import numba

    import fborn

    digest = hashlib.sha256()
    for path in sorted(Path(__file__).parent.glob("*.py")):
        digest.update(path.read_bytes())
    helpers = digest.hexdigest()[:12]
    return (f"fborn-{fborn.__version__}-numba-{numba.__version__}-py{sys.version_info[:2]}"
            f"-runtime-{helpers}")


def _load_module(path: Path, name: str) -> Any:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # numba's disk cache re-imports the module by name
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return module


def _write_atomically(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    with os.fdopen(fd, "w") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def compile_source(source: str, purge: bool = False) -> Callable[..., Any]:
    """The ``program`` function of ``source``, through the memory and disk caches;
    ``purge`` deletes its disk cache entries first (used when they turn out corrupt)."""
    digest = hashlib.sha256((_version_tag() + source).encode()).hexdigest()[:32]
    with _lock:
        fn = _memory.get(digest)
        if fn is not None and not purge:
            return fn
        name = f"fborn_kernel_{digest}"
        path = cache_dir() / f"{name}.py"
        if purge:
            for stale in [path, *(cache_dir() / "__pycache__").glob(f"{name}.*")]:
                stale.unlink(missing_ok=True)
        if not path.exists() or path.read_bytes() != source.encode():
            _write_atomically(path, source)
        try:
            module = _load_module(path, name)
        except Exception:  # a corrupt cache entry: rebuild it once
            path.unlink(missing_ok=True)
            _write_atomically(path, source)
            module = _load_module(path, name)
        fn = _memory[digest] = module.program
        load_without_refresh(fn)
        return fn


class Executable:
    """A compiled jaxpr: call it with numpy arrays (or numpy scalars), get numpy arrays (in
    the jaxpr's shapes). Its large outputs are buffers of its ``pools``, recycled once the
    caller drops them."""

    def __init__(self, closed: ClosedJaxpr):
        self.jaxpr = optimize(closed)
        self.program: Program = schedule(self.jaxpr)
        self.source, self.parallel = render(self.program)
        self.fn = compile_source(self.source)
        self.scalars = scalar_inputs(self.program)
        self.constants = [_flat_input(c) for c in self.program.constants.values()]
        out_info = [self.program.buffers[o] for o in self.program.outputs]
        # (shape, dtype to view the output as, or None where numba returns it in its dtype)
        self.out_layouts = [(i.shape, i.dtype if i.dtype in HALF_DTYPES else None)
                            for i in out_info]
        self.pools = [_pool_for(self.program, name) for name in pooled_outputs(self.program)]
        self._dump = os.environ.get("FBORN_DUMP_KERNELS") == "1"
        self._first = True

    def __call__(self, *args: np.ndarray | np.generic) -> list[np.ndarray]:
        flat = [_scalar_input(a) if scalar else _flat_input(a)
                for a, scalar in zip(args, self.scalars, strict=True)]
        if self._first:
            outs = self._first_call(flat)
        elif self.pools:
            outs = self.fn(*flat, *self.constants, *[pool.take() for pool in self.pools])
        else:
            outs = self.fn(*flat, *self.constants)
        return [o.reshape(shape) if view is None else o.view(view).reshape(shape)
                for o, (shape, view) in zip(outs, self.out_layouts, strict=True)]

    def _first_call(self, flat: list[Any]) -> list[np.ndarray]:
        """Call (and so compile) the program; rebuild an unreadable disk cache entry once."""
        start = time.perf_counter()
        try:
            outs = self.fn(*flat, *self.constants, *[pool.take() for pool in self.pools])
        except (pickle.UnpicklingError, EOFError, OSError, ImportError, ValueError):
            self.fn = compile_source(self.source, purge=True)
            outs = self.fn(*flat, *self.constants, *[pool.take() for pool in self.pools])
        if self._dump:
            print(self.source, file=sys.stderr)
            print(f"# first call (compile + run): {time.perf_counter() - start:.3f} s",
                  file=sys.stderr)
        self._first = False
        return outs


def _pool_for(program: Program, name: str) -> OutputPool:
    """The pool of output buffer ``name`` (16-bit floats are stored as uint16 bits)."""
    info = program.buffers[name]
    storage = np.uint16 if info.dtype in HALF_DTYPES else info.dtype
    return OutputPool(info.size, storage)


def _scalar_input(a: np.ndarray | np.generic) -> np.generic:
    """A rank-0 ``a`` as the generated code takes it: a numpy scalar (16-bit floats as their
    uint16 bits)."""
    if a.dtype.itemsize == 2 and a.dtype in HALF_DTYPES:
        return np.asarray(a).view(np.uint16)[()]
    return a[()]


def _flat_input(a: np.ndarray) -> np.ndarray:
    """``a`` as the generated code takes it: flat, C-ordered, 16-bit floats as their uint16
    bits, and read-only (numba types writable and read-only arrays differently, so passing
    both kinds would compile the program twice)."""
    flat = np.ascontiguousarray(a).reshape(-1)  # a new view object, never a strided one
    if flat.dtype.itemsize == 2 and flat.dtype in HALF_DTYPES:
        flat = flat.view(np.uint16)
    if flat.flags.writeable:
        flat.flags.writeable = False
    return flat


_executables: PerJaxpr[Executable] = PerJaxpr()


def executable_for(closed: ClosedJaxpr) -> Executable:
    """The (cached) executable of a jaxpr object."""
    return _executables.get(closed, lambda: Executable(closed))
