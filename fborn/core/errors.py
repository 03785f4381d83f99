"""fborn's exception hierarchy.

Every error fborn raises on bad input derives from ``FbornError`` and from the matching builtin
(``TypeError`` or ``ValueError``), so ``except TypeError`` keeps working for code ported from JAX.
"""

from __future__ import annotations

import os
import sys

_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class FbornError(Exception):
    """Base class of every fborn error."""


class FbornShapeError(FbornError, TypeError):
    """Operand shapes do not fit an operation (names the primitive, shapes and call site)."""


class FbornDtypeError(FbornError, TypeError):
    """An operand's dtype is not accepted by an operation, or is not supported by fborn."""


class ConcretizationError(FbornError, TypeError):
    """A traced (abstract) value was used where a concrete Python value is needed (bool, int...)."""


class LeakedTracerError(FbornError, RuntimeError):
    """A tracer escaped the transformation that created it and was used afterwards."""


class PyTreeError(FbornError, ValueError):
    """Two pytrees that should have the same structure do not."""


class FileFormatError(FbornError, ValueError):
    """A file (checkpoint, IDX, safetensors...) is malformed; the message names the offset."""


def user_frame_summary() -> str:
    """``file:line (function)`` of the innermost stack frame outside the fborn package, or ''."""
    frame = sys._getframe(1)
    while frame is not None:
        filename = os.path.abspath(frame.f_code.co_filename)
        if not filename.startswith(_PACKAGE_DIR) and "importlib" not in filename:
            return f"{frame.f_code.co_filename}:{frame.f_lineno} ({frame.f_code.co_name})"
        frame = frame.f_back
    return ""
