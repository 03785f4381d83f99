"""Optimizers as composable gradient transformations (``fborn.optim``, after optax).

A :class:`GradientTransformation` is a pair of pure functions ``init(params) -> state`` and
``update(grads, state, params=None) -> (updates, state)``; :func:`apply_updates` adds the updates
to the parameters. States are pytrees, so a whole training step jits and checkpoints::

    opt = fborn.optim.adam(1e-3)
    state = opt.init(params)

    @fborn.jit
    def step(params, state, batch):
        grads = fborn.grad(loss)(params, batch)
        updates, state = opt.update(grads, state, params)
        return fborn.optim.apply_updates(params, updates), state
"""

from fborn.optim import schedules
from fborn.optim._aliases import *  # noqa: F403
from fborn.optim._aliases import __all__ as _aliases_all
from fborn.optim._base import *  # noqa: F403
from fborn.optim._base import __all__ as _base_all
from fborn.optim._transforms import *  # noqa: F403
from fborn.optim._transforms import __all__ as _transforms_all
from fborn.optim.schedules import *  # noqa: F403
from fborn.optim.schedules import __all__ as _schedules_all

__all__ = ["schedules", *_base_all, *_transforms_all, *_aliases_all, *_schedules_all]
