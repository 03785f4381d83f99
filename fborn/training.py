"""A training loop small enough to read and copy: jit-compiled steps, epochs over shuffled
mini-batches with a progress bar (tqdm) showing the running loss and throughput, and accuracy.

    step = fborn.training.make_step(loss_fn, fborn.optim.adam(1e-3))
    for epoch in range(epochs):
        batches = fborn.io.batches(fborn.random.fold_in(key, epoch), (x, y), 32)
        params, opt_state, loss = fborn.training.train_epoch(step, params, opt_state, batches)
    print(fborn.training.accuracy(predict, params, x_test, y_test))
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from fborn import optim
from fborn.core.tree import PyTree
from fborn.transforms.autodiff import value_and_grad
from fborn.transforms.jit import jit

__all__ = ["accuracy", "make_step", "train_epoch"]

Step = Callable[..., tuple[PyTree, PyTree, Any]]


def make_step(loss_fn: Callable[..., Any], optimizer: optim.GradientTransformation) -> Step:
    """A jit-compiled ``step(params, opt_state, *batch) -> (params, opt_state, loss)`` that
    differentiates ``loss_fn(params, *batch)`` (a scalar) and applies one optimizer update."""

    @jit
    def step(params: PyTree, opt_state: PyTree, *batch: Any) -> tuple[PyTree, PyTree, Any]:
        loss, grads = value_and_grad(loss_fn)(params, *batch)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        return optim.apply_updates(params, updates), opt_state, loss

    return step


def train_epoch(step: Step, params: PyTree, opt_state: PyTree, batches: Iterable[tuple],
                *, desc: str = "train", progress: bool = True
                ) -> tuple[PyTree, PyTree, float]:
    """Run ``step`` over every batch (tuples whose first entry has the batch on axis 0).

    Returns the new params and optimizer state and the mean loss over the epoch. The bar shows
    the running mean loss and samples per second; ``progress=False`` hides it."""
    total = len(batches) if hasattr(batches, "__len__") else None
    bar = tqdm(batches, total=total, desc=desc, unit="batch",
               disable=None if progress else True,  # None: shown on terminals only
               leave=False, dynamic_ncols=True)
    losses = []
    seen = 0
    start = time.perf_counter()
    for i, batch in enumerate(bar):
        params, opt_state, loss = step(params, opt_state, *batch)
        losses.append(loss)
        seen += len(batch[0])
        if i % 50 == 0 or i + 1 == total:
            elapsed = max(time.perf_counter() - start, 1e-9)
            bar.set_postfix(loss=f"{float(np.mean(losses[-50:])):.4f}",
                            samples_per_s=f"{seen / elapsed:,.0f}")
    bar.close()
    mean_loss = float(np.mean([np.asarray(v) for v in losses])) if losses else float("nan")
    return params, opt_state, mean_loss


def accuracy(predict: Callable[[PyTree, Any], Any], params: PyTree, inputs: np.ndarray,
             labels: np.ndarray, batch_size: int = 1000) -> float:
    """Fraction of ``inputs`` whose argmax of ``predict(params, batch)`` (logits, shape
    (batch, classes)) equals ``labels``; evaluated in batches of ``batch_size``."""
    if len(inputs) != len(labels):
        raise ValueError(f"accuracy: {len(inputs)} inputs but {len(labels)} labels")
    if len(inputs) == 0:
        raise ValueError("accuracy: no inputs")
    correct = 0
    for start in range(0, len(inputs), batch_size):
        logits = np.asarray(predict(params, inputs[start:start + batch_size]))
        correct += int(np.sum(np.argmax(logits, axis=-1) == labels[start:start + batch_size]))
    return correct / len(inputs)
