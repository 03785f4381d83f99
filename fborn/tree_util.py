"""Public pytree utilities (``fborn.tree_util``), mirroring ``jax.tree_util``.

The names (listed in ``__all__``) and their semantics live in :mod:`fborn.core.tree`.
"""

from fborn.core.tree import *  # noqa: F403 - this module is that one's public face
from fborn.core.tree import __all__  # noqa: F401
