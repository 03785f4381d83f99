"""fborn.io: checkpoints (native ``.fbc`` and safetensors), the IDX/MNIST reader and a batching
iterator (see DESIGN.md). Readers of untrusted files never run code and validate every header
field before allocating; malformed files raise :class:`fborn.errors.FileFormatError`."""

from fborn.io.batches import Batches, batches
from fborn.io.checkpoint import CheckpointHeader, TensorInfo, load, read_header, save
from fborn.io.idx import MNIST_10K, load_mnist, read_idx
from fborn.io.safetensors import (
    load_safetensors,
    load_safetensors_metadata,
    named_to_tree,
    save_safetensors,
    tree_to_named,
)

__all__ = [
    "MNIST_10K", "Batches", "CheckpointHeader", "TensorInfo", "batches", "load", "load_mnist",
    "load_safetensors", "load_safetensors_metadata", "named_to_tree", "read_header", "read_idx",
    "save", "save_safetensors", "tree_to_named",
]
