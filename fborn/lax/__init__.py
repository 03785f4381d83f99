"""``fborn.lax``: the primitive-level API (names and semantics of ``jax.lax``)."""

from fborn.lax._ops import *  # noqa: F403
from fborn.lax._ops import __all__ as _ops_all

__all__ = [*_ops_all]
