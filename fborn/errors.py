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

__all__ = [
    "ConcretizationError", "FbornDtypeError", "FbornError", "FbornShapeError", "FileFormatError",
    "JaxprTypeError", "LeakedTracerError", "PyTreeError",
]
