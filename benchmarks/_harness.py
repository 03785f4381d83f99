"""Shared timing and table printing for the benchmarks (medians after warm-up)."""

from __future__ import annotations

import statistics
import time
import types
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np


def median_seconds(fn: Callable[[], object], warmup: int = 5, repeat: int = 30,
                   min_time: float = 0.2, warmup_time: float = 1.0) -> float:
    """Median wall time of ``fn()`` after at least ``warmup`` calls and ``warmup_time``
    seconds (thread pools settle only after a while), over at least ``repeat`` runs and
    ``min_time`` seconds."""
    start = time.perf_counter()
    done = 0
    while done < warmup or (time.perf_counter() - start < warmup_time and done < 1000):
        fn()
        done += 1
    times: list[float] = []
    start = time.perf_counter()
    while len(times) < repeat or time.perf_counter() - start < min_time:
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
        if len(times) > 10 * repeat:
            break
    return statistics.median(times)


@dataclass
class Table:
    """Rows of timings (seconds) per system; prints medians and fborn/peer ratios."""

    title: str
    systems: list[str]
    unit: str = "ms"
    rows: list[tuple[str, dict[str, float | None]]] = field(default_factory=list)

    def add(self, label: str, timings: dict[str, float | None]) -> None:
        self.rows.append((label, timings))

    def render(self) -> str:
        scale = {"ms": 1e3, "us": 1e6, "s": 1.0}[self.unit]
        peers = [s for s in self.systems if s != "fborn"]
        head = f"{'case':<34}" + "".join(f"{s + ' ' + self.unit:>14}" for s in self.systems)
        head += "".join(f"{'fborn/' + p:>14}" for p in peers)
        lines = [f"== {self.title}", head]
        for label, t in self.rows:
            cells = "".join(f"{t[s] * scale:>14.3f}" if t.get(s) else f"{'-':>14}"
                            for s in self.systems)
            ratios = "".join(f"{t['fborn'] / t[p]:>14.2f}" if t.get(p) and t.get("fborn")
                             else f"{'-':>14}" for p in peers)
            lines.append(f"{label:<34}{cells}{ratios}")
        return "\n".join(lines)


def torch_sgd_step(torch: Any, params: list[tuple[Any, Any]], lenet: bool,
                   device: str = "cpu") -> Callable[[Any, Any], None]:
    """PyTorch's eager SGD step (lr 0.01) for the benchmarks' MLP or LeNet-5 (conv 6@5x5 with
    padding 2, max-pool 2, conv 16@5x5, max-pool 2, then the dense layers): ``step(x, y)``
    with one-hot ``y``, parameters copied from ``params`` onto ``device``."""
    import torch.nn.functional as F  # noqa: N812

    tparams = [(torch.tensor(w, device=device, requires_grad=True),
                torch.tensor(b, device=device, requires_grad=True)) for w, b in params]

    def step(x: Any, y: Any) -> None:
        h, dense = x, tparams
        if lenet:
            (w1, b1), (w2, b2), *dense = tparams
            h = F.max_pool2d(torch.relu(F.conv2d(h, w1, b1, padding=2)), 2)
            h = F.max_pool2d(torch.relu(F.conv2d(h, w2, b2)), 2).flatten(1)
        for w, b in dense[:-1]:
            h = torch.relu(h @ w + b)
        w, b = dense[-1]
        loss = -torch.mean(torch.sum(torch.log_softmax(h @ w + b, dim=1) * y, dim=1))
        loss.backward()
        with torch.no_grad():
            for w, b in tparams:
                w -= 0.01 * w.grad
                b -= 0.01 * b.grad
                w.grad = None
                b.grad = None

    return step


# --- the benchmarked models, written once for every library -----------------------------------
# ``m`` holds a library's ``np``, ``lax`` and ``logsumexp`` (fborn's or JAX's).

def mlp_params(sizes: list[int], seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(seed)
    return [((rng.standard_normal((a, b)) / np.sqrt(a)).astype(np.float32),
             np.zeros(b, np.float32)) for a, b in zip(sizes[:-1], sizes[1:], strict=False)]


def mlp_loss(m: types.SimpleNamespace, params: Any, x: Any, y: Any) -> Any:
    """Mean softmax cross-entropy of a ReLU MLP; ``m`` holds the library's np/lax/logsumexp."""
    h = x
    for w, b in params[:-1]:
        h = m.np.maximum(h @ w + b, 0.0)
    w, b = params[-1]
    logits = h @ w + b
    return -m.np.mean(m.np.sum((logits - m.logsumexp(logits, axis=1, keepdims=True)) * y,
                               axis=1))


LENET_SHAPES = [(6, 1, 5, 5), (16, 6, 5, 5), (400, 120), (120, 84), (84, 10)]


def lenet_params(seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(seed)
    params = []
    for shape in LENET_SHAPES:
        conv = len(shape) == 4
        fan_in = int(np.prod(shape[1:])) if conv else shape[0]
        w = (rng.standard_normal(shape) / np.sqrt(fan_in)).astype(np.float32)
        params.append((w, np.zeros(shape[0] if conv else shape[1], np.float32)))
    return params


def lenet_loss(m: types.SimpleNamespace, params: Any, x: Any, y: Any) -> Any:
    """LeNet-5 (NCHW): conv 6@5x5 pad 2, ReLU, 2x2 max pool, conv 16@5x5, ReLU, pool,
    400-120-84-10; mean softmax cross-entropy."""

    def pool(h: Any) -> Any:
        top = m.np.maximum(h[:, :, 0::2, 0::2], h[:, :, 0::2, 1::2])
        return m.np.maximum(top, m.np.maximum(h[:, :, 1::2, 0::2], h[:, :, 1::2, 1::2]))

    (w1, b1), (w2, b2), *dense = params
    h = m.lax.conv_general_dilated(x, w1, (1, 1), ((2, 2), (2, 2)))
    h = pool(m.np.maximum(h + b1[:, None, None], 0.0))
    h = m.lax.conv_general_dilated(h, w2, (1, 1), "VALID")
    h = pool(m.np.maximum(h + b2[:, None, None], 0.0))
    return mlp_loss(m, dense, h.reshape(h.shape[0], -1), y)
