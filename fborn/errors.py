"""``fborn.errors``: the exceptions fborn raises (see ``fborn.core.errors``)."""

from fborn.core.errors import (
    ConcretizationError,
    FbornDtypeError,
    FbornError,
    FbornShapeError,
    FileFormatError,
    LeakedTracerError,
    PyTreeError,
)
from fborn.core.jaxpr import JaxprTypeError
from fborn.numpy._indexing import NonConcreteBooleanIndexError

__all__ = [
    "ConcretizationError", "FbornDtypeError", "FbornError", "FbornShapeError", "FileFormatError",
    "JaxprTypeError", "LeakedTracerError", "NonConcreteBooleanIndexError", "PyTreeError",
]
