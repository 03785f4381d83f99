"""``fborn.lax``: the primitive-level API (names and semantics of ``jax.lax``)."""

from fborn.lax import _control_flow, _conv, _indexing, _ops, _parallel, _sort
from fborn.lax._control_flow import *  # noqa: F403
from fborn.lax._conv import *  # noqa: F403
from fborn.lax._indexing import *  # noqa: F403
from fborn.lax._ops import *  # noqa: F403
from fborn.lax._parallel import *  # noqa: F403
from fborn.lax._sort import *  # noqa: F403

__all__ = [*_ops.__all__, *_indexing.__all__, *_sort.__all__, *_conv.__all__,
           *_control_flow.__all__, *_parallel.__all__]
