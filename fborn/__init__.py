"""fborn: a JAX-style functional ML library (traced pure functions, composable transforms,
numba CPU kernels and WGSL GPU shaders)."""

from fborn import ad_checkpoint, errors, lax, nn, numpy, optim, random, scipy, tree_util
from fborn.core.array import Array, Device
from fborn.core.aval import ShapedArray, ShapeDtypeStruct
from fborn.core.config import config
from fborn.core.devices import (
    default_backend,
    device_put,
    device_put_sharded,
    devices,
    local_devices,
)
from fborn.core.jaxpr import ClosedJaxpr, Jaxpr, eval_jaxpr, typecheck_jaxpr
from fborn.core.primitive import Primitive
from fborn.transforms.autodiff import (
    grad,
    hessian,
    jacfwd,
    jacrev,
    jvp,
    linearize,
    value_and_grad,
    vjp,
)
from fborn.transforms.checkpoint import checkpoint, remat
from fborn.transforms.custom_derivatives import custom_jvp, custom_vjp
from fborn.transforms.jit import disable_jit, jit
from fborn.transforms.make_jaxpr import eval_shape, make_jaxpr
from fborn.transforms.pmap import pmap
from fborn.transforms.vmap import vmap

__version__ = "0.1.0"

__all__ = [
    "Array", "ClosedJaxpr", "Device", "Jaxpr", "Primitive", "ShapeDtypeStruct", "ShapedArray",
    "config", "default_backend", "device_put", "device_put_sharded", "devices",
    "local_devices",
    "errors", "eval_jaxpr", "eval_shape", "lax", "make_jaxpr", "numpy", "random", "scipy",
    "tree_util", "nn", "optim", "models", "io", "training",
    "typecheck_jaxpr", "grad", "hessian", "jacfwd", "jacrev", "jvp", "linearize",
    "value_and_grad", "vjp", "vmap", "jit", "disable_jit", "pmap",
    "checkpoint", "remat", "ad_checkpoint", "custom_jvp", "custom_vjp", "typecheck",
]


_LAZY_MODULES = ("models", "io", "training")


def __getattr__(name: str) -> object:
    # jaxtyping imports jax when it is installed: the shape checker and the modules that use it
    # (layers, and io/training which build on them) load on first access.
    if name == "typecheck":
        from fborn.typing import typecheck

        return typecheck
    if name in _LAZY_MODULES:
        import importlib

        return importlib.import_module(f"fborn.{name}")
    raise AttributeError(f"module 'fborn' has no attribute {name!r}")
