"""``fborn.lax``: the primitive-level API (names and semantics of ``jax.lax``)."""

from fborn.lax import _conv, _indexing, _ops, _sort
from fborn.lax._conv import *  # noqa: F403
from fborn.lax._indexing import *  # noqa: F403
from fborn.lax._ops import *  # noqa: F403
from fborn.lax._sort import *  # noqa: F403

__all__ = [*_ops.__all__, *_indexing.__all__, *_sort.__all__, *_conv.__all__]
