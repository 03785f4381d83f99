"""``fborn.numpy``: the jax.numpy API on fborn arrays; every function is built from primitives,
so every transform applies. Importing it attaches operators and methods to ``fborn.Array``."""

from fborn.numpy import _array_methods, linalg  # noqa: F401 - linalg is public
from fborn.numpy._creation import *  # noqa: F403
from fborn.numpy._dtypes import *  # noqa: F403
from fborn.numpy._indexing import *  # noqa: F403
from fborn.numpy._linalg import *  # noqa: F403
from fborn.numpy._manipulation import *  # noqa: F403
from fborn.numpy._reductions import *  # noqa: F403
from fborn.numpy._sorting import *  # noqa: F403
from fborn.numpy._ufuncs import *  # noqa: F403

del _array_methods
