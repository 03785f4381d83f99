"""fborn.models: models as pytrees (see DESIGN.md).

:class:`Module` subclasses are frozen dataclasses registered as pytrees: arrays are leaves, sizes,
flags and functions are static, so models pass straight through ``fborn.jit``/``grad``/``vmap``.
Layers take ``(*batch, features)`` or channel-first ``(C, ...)``/``(N, C, ...)`` inputs and an
explicit PRNG ``key`` at construction (and at call time for Dropout).
"""

from fborn.models.conv import Conv, Conv1d, Conv2d
from fborn.models.dropout import Dropout
from fborn.models.embedding import Embedding
from fborn.models.linear import Linear
from fborn.models.mlp import MLP
from fborn.models.module import (
    Module,
    combine,
    field,
    is_array,
    is_inexact_array,
    partition,
    tree_at,
)
from fborn.models.norm import BatchNorm, BatchNormState, LayerNorm, RMSNorm
from fborn.models.pool import AvgPool2d, MaxPool2d
from fborn.models.sequential import Lambda, Sequential

__all__ = [
    "MLP", "AvgPool2d", "BatchNorm", "BatchNormState", "Conv", "Conv1d", "Conv2d", "Dropout",
    "Embedding", "Lambda", "LayerNorm", "Linear", "MaxPool2d", "Module", "RMSNorm", "Sequential",
    "combine", "field", "is_array", "is_inexact_array", "partition", "tree_at",
]
