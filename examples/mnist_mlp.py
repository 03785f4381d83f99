"""Train a 784-128-10 ReLU MLP on MNIST with Adam (lr 1e-3, batch 32, 10 epochs), save it, and
classify test images with the saved checkpoint.

    python examples/mnist_mlp.py                      # bundled 10k-image subset, no download
    python examples/mnist_mlp.py --data DIR --epochs 3
    python examples/mnist_mlp.py predict --load mnist_mlp.fbc
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import mnist_common  # noqa: E402

from fborn import models, nn  # noqa: E402


def build_model(key: Any) -> models.MLP:
    return models.MLP(784, 10, width_size=128, depth=1, activation=nn.relu, key=key)


def prepare(images: np.ndarray) -> np.ndarray:
    """uint8 (N, 28, 28) -> float32 (N, 784) in [0, 1]."""
    return images.reshape(len(images), -1).astype(np.float32) / 255.0


def main(argv: list[str] | None = None) -> Any:
    args = mnist_common.parse_args(__doc__.splitlines()[0], argv, epochs=10, batch_size=32,
                                   learning_rate=1e-3, checkpoint="mnist_mlp.fbc")
    run = mnist_common.predict if args.command == "predict" else mnist_common.train
    return run(args, build_model, prepare)


if __name__ == "__main__":
    main()
