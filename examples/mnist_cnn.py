"""Train LeNet-5 on MNIST with Adam (conv 6@5x5, ReLU, max-pool 2, conv 16@5x5, ReLU, max-pool 2,
256-120-84-10), save it, and classify test images with the saved checkpoint.

    python examples/mnist_cnn.py                      # bundled 10k-image subset, no download
    python examples/mnist_cnn.py --data DIR --epochs 3
    python examples/mnist_cnn.py predict --load mnist_cnn.fbc
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import mnist_common  # noqa: E402

import fborn  # noqa: E402
from fborn import models, nn  # noqa: E402


class LeNet5(models.Module):
    """LeNet-5 on (N, 1, 28, 28) images: 28 -> conv 24 -> pool 12 -> conv 8 -> pool 4."""

    conv1: models.Conv2d
    conv2: models.Conv2d
    pool: models.MaxPool2d
    fc1: models.Linear
    fc2: models.Linear
    fc3: models.Linear

    def __init__(self, *, key: Any):
        k1, k2, k3, k4, k5 = fborn.random.split(key, 5)
        self.conv1 = models.Conv2d(1, 6, kernel_size=5, key=k1)
        self.conv2 = models.Conv2d(6, 16, kernel_size=5, key=k2)
        self.pool = models.MaxPool2d(2)
        self.fc1 = models.Linear(16 * 4 * 4, 120, key=k3)
        self.fc2 = models.Linear(120, 84, key=k4)
        self.fc3 = models.Linear(84, 10, key=k5)

    def __call__(self, x: fborn.Array) -> fborn.Array:
        x = self.pool(nn.relu(self.conv1(x)))
        x = self.pool(nn.relu(self.conv2(x)))
        x = nn.relu(self.fc1(x.reshape(x.shape[0], -1)))
        return self.fc3(nn.relu(self.fc2(x)))


def build_model(key: Any) -> LeNet5:
    return LeNet5(key=key)


def prepare(images: np.ndarray) -> np.ndarray:
    """uint8 (N, 28, 28) -> float32 (N, 1, 28, 28) in [0, 1]."""
    return images[:, None].astype(np.float32) / 255.0


def main(argv: list[str] | None = None) -> Any:
    args = mnist_common.parse_args(__doc__.splitlines()[0], argv, epochs=5, batch_size=32,
                                   learning_rate=1e-3, checkpoint="mnist_cnn.fbc")
    run = mnist_common.predict if args.command == "predict" else mnist_common.train
    return run(args, build_model, prepare)


if __name__ == "__main__":
    main()
