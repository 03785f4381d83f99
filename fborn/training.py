"""A training loop small enough to read and copy: jit-compiled steps, epochs over shuffled
mini-batches with a progress bar (tqdm) showing the running loss and throughput, and accuracy;
data-parallel steps over several devices (pmap) with batches uploaded ahead of the step.

    step = fborn.training.make_step(loss_fn, fborn.optim.adam(1e-3))
    for epoch in range(epochs):
        batches = fborn.io.batches(fborn.random.fold_in(key, epoch), (x, y), 32)
        params, opt_state, loss = fborn.training.train_epoch(step, params, opt_state, batches)
    print(fborn.training.accuracy(predict, params, x_test, y_test))
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from fborn import optim
from fborn.core.array import Device
from fborn.core.devices import device_put_sharded
from fborn.core.switching import short_switch_interval
from fborn.core.tree import PyTree, tree_flatten, tree_unflatten
from fborn.lax import pmean
from fborn.transforms.autodiff import value_and_grad
from fborn.transforms.jit import jit
from fborn.transforms.pmap import pmap

__all__ = ["accuracy", "make_parallel_step", "make_step", "prefetch_to_devices", "train_epoch"]

Step = Callable[..., tuple[PyTree, PyTree, Any]]


def _update_step(loss_fn: Callable[..., Any], optimizer: optim.GradientTransformation,
                 axis_name: Any = None) -> Step:
    """``step(params, opt_state, *batch)``: gradients of ``loss_fn`` (averaged, with the loss,
    over ``axis_name`` when given), then one optimizer update."""

    def step(params: PyTree, opt_state: PyTree, *batch: Any) -> tuple[PyTree, PyTree, Any]:
        loss, grads = value_and_grad(loss_fn)(params, *batch)
        if axis_name is not None:
            grads, loss = pmean((grads, loss), axis_name)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        return optim.apply_updates(params, updates), opt_state, loss

    return step


def make_step(loss_fn: Callable[..., Any], optimizer: optim.GradientTransformation) -> Step:
    """A jit-compiled ``step(params, opt_state, *batch) -> (params, opt_state, loss)`` that
    differentiates ``loss_fn(params, *batch)`` (a scalar) and applies one optimizer update."""
    return jit(_update_step(loss_fn, optimizer))


def make_parallel_step(loss_fn: Callable[..., Any], optimizer: optim.GradientTransformation,
                       devices: Sequence[Device] | None = None, *, axis_name: Any = "batch",
                       in_axes: Any = 0) -> Step:
    """The data-parallel ``step(params, opt_state, *batch) -> (params, opt_state, loss)``:
    ``pmap`` over ``devices`` (default: ``fborn.devices()``, those of every process) of
    :func:`make_step`'s step with gradients and loss averaged (``pmean``) over the devices.
    With the default ``in_axes=0`` every argument carries a leading device axis (parameters
    replicated, each batch split); the parameters, state and loss come back per device."""
    return pmap(_update_step(loss_fn, optimizer, axis_name), axis_name=axis_name,
                in_axes=in_axes, devices=devices)


def prefetch_to_devices(batches: Iterable[Any], devices: Sequence[Device], size: int = 2
                        ) -> Iterator[Any]:
    """Yield each batch of ``batches`` (a pytree of arrays whose leading axis has one entry per
    device) as ``ShardedArray``s on ``devices``, uploaded by a background thread up to
    ``size`` batches ahead, so that the copies to the GPUs overlap the steps. Exceptions of
    the iterator or the uploads are raised at the batch where they happened. Until the
    iteration ends (or the generator is closed) Python's thread switch interval is lowered
    (``fborn.core.switching``), so the uploader and the steps take turns at the GIL often."""
    if size < 1:
        raise ValueError(f"prefetch_to_devices: size must be at least 1, got {size}")
    ahead: queue.Queue[tuple[bool, Any]] = queue.Queue(maxsize=size)
    stop = threading.Event()

    def hand_over(item: tuple[bool, Any]) -> bool:
        """Queue ``item`` unless the consumer has stopped; whether it was queued."""
        while not stop.is_set():
            try:
                ahead.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def upload() -> None:
        try:
            for batch in batches:
                leaves, treedef = tree_flatten(batch)
                per_device = [tree_unflatten(treedef, [np.asarray(leaf)[i] for leaf in leaves])
                              for i in range(len(devices))]
                if not hand_over((True, device_put_sharded(per_device, devices))):
                    return
            hand_over((False, None))
        except BaseException as e:  # raised in the consuming thread
            hand_over((False, e))

    worker = threading.Thread(target=upload, daemon=True, name="fborn-prefetch")
    with short_switch_interval():
        worker.start()
        try:
            while True:
                more, value = ahead.get()
                if not more:
                    if value is not None:
                        raise value
                    return
                yield value
        finally:
            stop.set()


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
