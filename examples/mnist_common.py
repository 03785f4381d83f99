"""What the MNIST examples share: command-line flags, data, the training run and prediction.

Each example defines its model (`build_model(key)`) and how images enter it (`prepare`, from
uint8 (N, 28, 28) to the model's float32 input); everything else is here and reads top to bottom.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable
from typing import Any

import numpy as np

import fborn
import fborn.numpy as fnp
from fborn import io, nn, optim, training

Model = Any


def parse_args(description: str, argv: list[str] | None, *, epochs: int, batch_size: int,
               learning_rate: float, checkpoint: str) -> argparse.Namespace:
    """`train` (the default) or `predict`, with the flags both examples take."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("command", nargs="?", choices=["train", "predict"], default="train")
    parser.add_argument("--data", default=None,
                        help="directory with the four MNIST-format files (default: the 10k "
                             "subset bundled with fborn)")
    parser.add_argument("--epochs", type=int, default=epochs)
    parser.add_argument("--batch-size", type=int, default=batch_size)
    parser.add_argument("--lr", type=float, default=learning_rate, help="Adam learning rate")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--save", default=checkpoint, help="checkpoint written after training")
    parser.add_argument("--load", default=checkpoint, help="checkpoint read by `predict`")
    parser.add_argument("--count", type=int, default=10, help="test images `predict` shows")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    parser.add_argument("--device", choices=["cpu", "gpu"], default=None,
                        help="where parameters and batches live and steps run (default: "
                             "$FBORN_PLATFORM, else cpu)")
    parser.add_argument("--limit", type=int, default=None,
                        help="use only the first N training and test images (quick runs)")
    return parser.parse_args(argv)


def device_of(args: argparse.Namespace) -> fborn.Device:
    """The device `--device` names (the first of its platform)."""
    return fborn.devices(args.device)[0]


class OnDevice:
    """The batches of `batches`, each put on `device` as it is taken."""

    def __init__(self, batches: Any, device: fborn.Device):
        self.batches, self.device = batches, device

    def __len__(self) -> int:
        return len(self.batches)

    def __iter__(self) -> Any:
        return (fborn.device_put(batch, self.device) for batch in self.batches)


def load_data(directory: str | None, prepare: Callable[[np.ndarray], np.ndarray],
              limit: int | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Train and test images (through `prepare`) and int32 labels (the first `limit` of each
    when given)."""
    data = io.load_mnist(directory)
    part = slice(None, limit)
    return (prepare(data["train_images"][part]), data["train_labels"][part].astype(np.int32),
            prepare(data["test_images"][part]), data["test_labels"][part].astype(np.int32))


def train(args: argparse.Namespace, build_model: Callable[[Any], Model],
          prepare: Callable[[np.ndarray], np.ndarray]) -> float:
    """Train with Adam on softmax cross-entropy, print each epoch, save a checkpoint; returns
    the final test accuracy."""
    x_train, y_train, x_test, y_test = load_data(args.data, prepare, args.limit)
    device = device_of(args)
    key, init_key = fborn.random.split(fborn.random.key(args.seed))
    model = fborn.device_put(build_model(init_key), device)
    optimizer = optim.adam(args.lr)
    opt_state = fborn.device_put(optimizer.init(model), device)

    def loss_fn(model: Model, x: Any, y: Any) -> Any:
        return fnp.mean(nn.softmax_cross_entropy_with_integer_labels(model(x), y))

    step = training.make_step(loss_fn, optimizer)
    predict = fborn.jit(lambda model, x: model(x))
    print(f"{len(x_train)} training and {len(x_test)} test images; "
          f"{sum(p.size for p in fborn.tree_util.tree_leaves(model))} parameters; on {device}")
    test_accuracy = 0.0
    for epoch in range(1, args.epochs + 1):
        start = time.perf_counter()
        batches = OnDevice(io.batches(fborn.random.fold_in(key, epoch), (x_train, y_train),
                                      args.batch_size), device)
        model, opt_state, loss = training.train_epoch(step, model, opt_state, batches,
                                                      desc=f"epoch {epoch}",
                                                      progress=not args.no_progress)
        seconds = time.perf_counter() - start
        test_accuracy = training.accuracy(predict, model, x_test, y_test)
        print(f"epoch {epoch:2d}  train loss {loss:.4f}  test accuracy {test_accuracy:.4f}  "
              f"({len(x_train) / seconds:,.0f} samples/s)")
    if args.save:
        io.checkpoint.save(args.save, {"model": model, "opt_state": opt_state},
                           metadata={"epochs": args.epochs, "test_accuracy": test_accuracy})
        print(f"saved {args.save}")
    return test_accuracy


def predict(args: argparse.Namespace, build_model: Callable[[Any], Model],
            prepare: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """Load the checkpoint and classify the first `--count` test images; returns the
    predicted classes."""
    if not os.path.exists(args.load):
        raise SystemExit(f"no checkpoint at {args.load}: train first (or pass --load PATH)")
    template = build_model(fborn.random.key(0))
    like = {"model": template, "opt_state": optim.adam(args.lr).init(template)}
    model = fborn.device_put(io.checkpoint.load(args.load, like=like)["model"], device_of(args))
    _, _, x_test, y_test = load_data(args.data, prepare, args.limit)
    x, y = x_test[:args.count], y_test[:args.count]
    classes = np.argmax(np.asarray(fborn.jit(lambda m, x: m(x))(model, x)), axis=-1)
    for i, (guess, label) in enumerate(zip(classes, y, strict=True)):
        print(f"test image {i}: predicted {guess}, label {label}"
              f"{'' if guess == label else '  (wrong)'}")
    print(f"{np.mean(classes == y):.2%} correct")
    return classes
