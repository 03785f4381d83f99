"""fborn on the GPU (WGSL through wgpu) against PyTorch CUDA and JAX CUDA on the same GPU.

Run: python benchmarks/gpu.py [--quick] [--sweep] [--skip-peers] [--profile BATCH]
Prints the machine and the wgpu adapter, then one table of medians: float32 matmul 4096^3
(PyTorch with TF32 off, JAX at 'highest' precision), MLP and LeNet-5 training steps, a fused
elementwise chain over 64M float32, MLP inference throughput and the per-call overhead of a
small jitted function. Peers are imported lazily; a missing one prints '-'. fborn runs compiled
``GpuExecutable``s on device-resident buffers (the same executables ``fborn.jit`` uses for the
GPU); training steps feed their output parameters back in, as a training loop does, and every
system is timed over chains of calls closed by one synchronization, the systems taking turns
(round-robin) so that slow spells of the shared machine hit all of them alike. ``--sweep``
also times each matmul tiling at a few sizes.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
import types
from collections.abc import Callable
from typing import Any

os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")  # leave memory to the others

import numpy as np  # noqa: E402

import fborn  # noqa: E402
import fborn.lax as flax  # noqa: E402
import fborn.numpy as fnp  # noqa: E402
import fborn.scipy.special as fsp  # noqa: E402
from fborn.lowering.wgsl import routines  # noqa: E402
from fborn.lowering.wgsl.device import gpu  # noqa: E402
from fborn.lowering.wgsl.executable import GpuExecutable  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _harness import (  # noqa: E402
    lenet_loss,
    lenet_params,
    mlp_loss,
    mlp_params,
    torch_sgd_step,
)

SYSTEMS = ("fborn", "torch", "jax")


# --- peers (imported on first use) ------------------------------------------------------------

_peers: dict[str, Any] = {}


def peer(name: str) -> Any:
    """The imported peer module ('torch' or 'jax'), or None when it is missing or has no GPU."""
    if name not in _peers:
        _peers[name] = _import_peer(name)
    return _peers[name]


def _import_peer(name: str) -> Any:
    try:
        if name == "torch":
            import torch

            if not torch.cuda.is_available():
                return None
            torch.backends.cuda.matmul.allow_tf32 = False
            torch.backends.cudnn.allow_tf32 = False
            torch.set_float32_matmul_precision("highest")
            return torch
        import jax

        jax.config.update("jax_default_matmul_precision", "highest")
        if jax.default_backend() != "gpu":
            return None
        return jax
    except Exception as e:  # noqa: BLE001 - a broken peer install only removes its column
        print(f"({name} unavailable: {e})", file=sys.stderr)
        return None


def torch_sync() -> None:
    peer("torch").cuda.synchronize()


# --- timing -----------------------------------------------------------------------------------

Timed = tuple[Callable[[], Any], Callable[[Any], Any]]
"""A system's call and the synchronization taking the call's last result."""


def interleaved(systems: dict[str, Timed], chain: int = 10, repeat: int = 15,
                warmup: int = 3, block: int = 1) -> dict[str, float]:
    """Median seconds per call of each system: chains of ``chain`` calls closed by one
    synchronization, ``block`` chains per system in turn, round-robin (``warmup`` rounds
    dropped), so that slow spells of the shared machine hit every system alike (a block of
    several chains keeps the GPU's switches between CUDA and Vulkan work out of most)."""
    times: dict[str, list[float]] = {name: [] for name in systems}
    for i in range(warmup + repeat):
        for name, (call, sync) in systems.items():
            for _ in range(block):
                t = time.perf_counter()
                out = None
                for _ in range(chain):
                    out = call()
                sync(out)
                if i >= warmup:
                    times[name].append((time.perf_counter() - t) / chain)
    return {name: statistics.median(ts) for name, ts in times.items()}


# --- fborn on the GPU -------------------------------------------------------------------------

class FbornGpu:
    """A function compiled for the GPU; ``run(bufs)`` takes and returns flat device buffers."""

    def __init__(self, fn: Callable[..., Any], *example: Any):
        self.gpu = gpu()
        self.exe = GpuExecutable(fborn.make_jaxpr(fn)(*example), self.gpu)
        leaves = fborn.tree_util.tree_leaves(example)
        self.inputs = [self.gpu.upload(np.asarray(x)) for x in leaves]

    def run(self, bufs: list[Any] | None = None) -> list[Any]:
        return self.exe.run(self.inputs if bufs is None else bufs)

    def sync(self, _: Any = None) -> None:
        self.gpu.sync()

    def read(self, bufs: list[Any]) -> list[np.ndarray]:
        infos = [self.exe.buffers[o] for o in self.exe.program.outputs]
        flat = self.gpu.read(bufs, [i.size for i in infos], [i.dtype for i in infos])
        return [f.reshape(i.shape) for f, i in zip(flat, infos, strict=True)]


# --- 1. matmul --------------------------------------------------------------------------------

def rel_error(got: np.ndarray, ref: np.ndarray) -> float:
    return float(np.linalg.norm(got - ref) / np.linalg.norm(ref))


def bench_matmul(n: int, table: list[Any]) -> None:
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n), dtype=np.float32)
    b = rng.standard_normal((n, n), dtype=np.float32)
    flops = 2.0 * n ** 3
    f = FbornGpu(lambda x, y: x @ y, a, b)
    (out,) = f.read(f.run())
    rows = slice(0, 64)
    err = rel_error(out[rows], a[rows].astype(np.float64) @ b.astype(np.float64))
    systems: dict[str, Timed] = {"fborn": (f.run, f.sync)}
    torch, jax = peer("torch"), peer("jax")
    if torch:
        ta, tb = torch.tensor(a, device="cuda"), torch.tensor(b, device="cuda")
        systems["torch"] = (lambda: ta @ tb, lambda _: torch_sync())
    if jax:
        jf = jax.jit(lambda x, y: x @ y)
        ja, jb = jax.device_put(a), jax.device_put(b)
        systems["jax"] = (lambda: jf(ja, jb), jax.block_until_ready)
    t = interleaved(systems, repeat=7)
    table.append((f"float32 matmul {n}^3 (rel.err {err:.1e})", "TFLOP/s",
                  {k: flops / v / 1e12 for k, v in t.items()}, "fborn >= 40% of torch"))


def sweep_matmul(sizes: list[tuple[int, int, int]]) -> None:
    """Time every tiling on each (m, k, n): GFLOP/s and the relative error."""
    configs = [*routines.MATMUL_CONFIGS,
               routines.MatmulConfig(128, 128, 16, 8, 8),
               routines.MatmulConfig(128, 128, 8, 8, 8),
               routines.MatmulConfig(64, 128, 8, 4, 8),
               routines.MatmulConfig(256, 128, 8, 16, 8),
               routines.MatmulConfig(128, 256, 8, 8, 16),
               routines.MatmulConfig(64, 64, 8, 4, 4),
               routines.MatmulConfig(32, 64, 8, 4, 4)]
    limit = gpu().limits["max-compute-workgroup-storage-size"]
    rng = np.random.default_rng(0)
    print("== matmul tilings (GFLOP/s, rel.err)")
    saved = routines.MATMUL_CONFIGS
    for m, k, n in sizes:
        a = rng.standard_normal((m, k), dtype=np.float32)
        b = rng.standard_normal((k, n), dtype=np.float32)
        ref = a[:64].astype(np.float64) @ b.astype(np.float64)
        cells = []
        for cfg in configs:
            if cfg.workgroup_bytes() > limit:
                continue
            routines.MATMUL_CONFIGS = (cfg,)
            try:
                f = FbornGpu(lambda x, y: x @ y, a, b)
                (out,) = f.read(f.run())
                sec = interleaved({"fborn": (f.run, f.sync)},
                                  chain=5 if m * n * k > 2 ** 32 else 20, repeat=5)["fborn"]
                cells.append(f"{cfg.bm}x{cfg.bn}x{cfg.bk}/{cfg.tm}x{cfg.tn}"
                             f"{'' if cfg.double else 's'}: {2 * m * n * k / sec / 1e9:.0f} "
                             f"({rel_error(out[:64], ref):.0e})")
            except Exception as e:  # noqa: BLE001 - report and go on with the next tiling
                cells.append(f"{cfg}: {type(e).__name__} {e}"[:200])
            finally:
                routines.MATMUL_CONFIGS = saved
        print(f"  {m}x{k}x{n}: " + "; ".join(cells), flush=True)


# --- 2. training steps ------------------------------------------------------------------------

def labels(batch: int, rng: np.random.Generator) -> np.ndarray:
    return np.eye(10, dtype=np.float32)[rng.integers(0, 10, batch)]


def sgd_step(lib: types.SimpleNamespace, loss: Callable[..., Any], grad: Callable[..., Any],
             tree_map: Callable[..., Any]) -> Callable[..., Any]:
    def step(params: Any, x: Any, y: Any) -> Any:
        grads = grad(lambda p: loss(lib, p, x, y))(params)
        return tree_map(lambda p, g: p - 0.01 * g, params, grads)

    return step


def fborn_train_step(loss: Callable[..., Any], params: Any, x: np.ndarray, y: np.ndarray
                     ) -> FbornGpu:
    lib = types.SimpleNamespace(np=fnp, lax=flax, logsumexp=fsp.logsumexp)
    return FbornGpu(sgd_step(lib, loss, fborn.grad, fborn.tree_util.tree_map), params, x, y)


def fborn_train(loss: Callable[..., Any], params: Any, x: np.ndarray, y: np.ndarray) -> Timed:
    f = fborn_train_step(loss, params, x, y)
    data = f.inputs[-2:]
    state = {"p": f.inputs[:-2]}

    def call() -> None:
        state["p"] = f.run([*state["p"], *data])

    return call, f.sync


def torch_train(kind: str, params: Any, x: np.ndarray, y: np.ndarray) -> Timed:
    torch = peer("torch")
    step = torch_sgd_step(torch, params, lenet=kind == "lenet", device="cuda")
    tx, ty = torch.tensor(x, device="cuda"), torch.tensor(y, device="cuda")
    return lambda: step(tx, ty), lambda _: torch_sync()


def jax_train(loss: Callable[..., Any], params: Any, x: np.ndarray, y: np.ndarray) -> Timed:
    jax = peer("jax")
    lib = types.SimpleNamespace(np=jax.numpy, lax=jax.lax,
                                logsumexp=jax.scipy.special.logsumexp)
    jstep = jax.jit(sgd_step(lib, loss, jax.grad, jax.tree_util.tree_map))
    state = {"p": jax.device_put(params)}
    jx, jy = jax.device_put(x), jax.device_put(y)

    def call() -> Any:
        state["p"] = jstep(state["p"], jx, jy)
        return state["p"]

    return call, jax.block_until_ready


def bench_training(kind: str, batch: int, table: list[Any]) -> None:
    rng = np.random.default_rng(1)
    if kind == "mlp":
        params, loss, label = mlp_params([784, 128, 10]), mlp_loss, "MLP 784-128-10"
        x = rng.random((batch, 784), dtype=np.float32)
    else:
        params, loss, label = lenet_params(), lenet_loss, "LeNet-5"
        x = rng.random((batch, 1, 28, 28), dtype=np.float32)
    y = labels(batch, rng)
    systems = {"fborn": fborn_train(loss, params, x, y)}
    if peer("torch"):
        systems["torch"] = torch_train(kind, params, x, y)
    if peer("jax"):
        systems["jax"] = jax_train(loss, params, x, y)
    t = {k: v * 1e3 for k, v in interleaved(systems, chain=20).items()}
    table.append((f"{label} train step b{batch}", "ms", t, "fborn <= 2x jax"))


# --- 3. elementwise chain, 4. inference, 5. per-call overhead ---------------------------------

def bench_elementwise(n: int, table: list[Any]) -> None:
    x = np.random.default_rng(0).random(n, dtype=np.float32)
    f = FbornGpu(lambda v: (v * 2 + 1) * v - 0.5, x)
    (out,) = f.read(f.run())
    np.testing.assert_allclose(out[:1000], (x[:1000] * 2 + 1) * x[:1000] - 0.5,
                               rtol=1e-5, atol=1e-6)  # the GPU may fuse into fma
    systems: dict[str, Timed] = {"fborn": (f.run, f.sync)}
    torch, jax = peer("torch"), peer("jax")
    if torch:
        tx = torch.tensor(x, device="cuda")
        systems["torch"] = (lambda: (tx * 2 + 1) * tx - 0.5, lambda _: torch_sync())
    if jax:
        jf, jx = jax.jit(lambda v: (v * 2 + 1) * v - 0.5), jax.device_put(x)
        systems["jax"] = (lambda: jf(jx), jax.block_until_ready)
    t = interleaved(systems)
    table.append((f"(x*2+1)*x-0.5 over {n // 2 ** 20}M f32 (r+w)", "GB/s",
                  {k: 8.0 * n / v / 1e9 for k, v in t.items()}, "fborn >= 60% of torch"))


def bench_inference(batch: int, table: list[Any]) -> None:
    params = mlp_params([784, 256, 128, 10])
    x = np.random.default_rng(2).random((batch, 784), dtype=np.float32)

    def forward(relu: Callable[[Any], Any], p: Any, v: Any) -> Any:
        h = v
        for w, b in p[:-1]:
            h = relu(h @ w + b)
        w, b = p[-1]
        return h @ w + b

    f = FbornGpu(lambda p, v: forward(lambda z: fnp.maximum(z, 0.0), p, v), params, x)
    systems: dict[str, Timed] = {"fborn": (f.run, f.sync)}
    torch, jax = peer("torch"), peer("jax")
    if torch:
        tp = [(torch.tensor(w, device="cuda"), torch.tensor(b, device="cuda"))
              for w, b in params]
        tx = torch.tensor(x, device="cuda")

        def torch_forward() -> Any:
            with torch.no_grad():
                return forward(torch.relu, tp, tx)

        systems["torch"] = (torch_forward, lambda _: torch_sync())
    if jax:
        jf = jax.jit(lambda p, v: forward(jax.nn.relu, p, v))
        jp, jx = jax.device_put(params), jax.device_put(x)
        systems["jax"] = (lambda: jf(jp, jx), jax.block_until_ready)
    t = interleaved(systems, chain=50)
    table.append((f"MLP 784-256-128-10 inference b{batch}", "samples/s",
                  {k: batch / v for k, v in t.items()}, "report (Born: 62k/s RTX 3080)"))


def bench_overhead(table: list[Any]) -> None:
    a = np.arange(8, dtype=np.float32)
    b = np.full(8, 3.0, np.float32)
    f = FbornGpu(lambda u, v: u * v + 1.0, a, b)
    systems: dict[str, Timed] = {"fborn": (f.run, f.sync)}
    torch, jax = peer("torch"), peer("jax")
    if torch:
        ta, tb = torch.tensor(a, device="cuda"), torch.tensor(b, device="cuda")
        systems["torch"] = (lambda: ta * tb + 1.0, lambda _: torch_sync())
    if jax:
        jf = jax.jit(lambda u, v: u * v + 1.0)
        ja, jb = jax.device_put(a), jax.device_put(b)
        systems["jax"] = (lambda: jf(ja, jb), jax.block_until_ready)
    sync_t = interleaved(systems, chain=1, repeat=10, warmup=1, block=30)
    async_t = interleaved(systems, chain=200, repeat=9)
    note = "torch = eager, not jitted"
    table.append(("small jitted u*v+1, call + sync", "us",
                  {k: v * 1e6 for k, v in sync_t.items()}, note))
    table.append(("small jitted u*v+1, call only (async)", "us",
                  {k: v * 1e6 for k, v in async_t.items()}, note))


# --- report -----------------------------------------------------------------------------------

def machine_lines() -> list[str]:
    g = gpu()
    info = g.adapter.info
    lines = [f"machine: {platform.node()} ({platform.machine()}, {os.cpu_count()} CPUs, "
             f"Python {platform.python_version()})",
             f"fborn adapter: {info['device']} via {info['backend_type']} "
             f"({info['adapter_type']}; {info.get('description', '')})"]
    torch, jax = peer("torch"), peer("jax")
    if torch:
        lines.append(f"torch {torch.__version__}: {torch.cuda.get_device_name()} "
                     f"(CUDA {torch.version.cuda}, TF32 off)")
    if jax:
        lines.append(f"jax {jax.__version__}: {jax.devices()[0].device_kind} "
                     f"(matmul precision 'highest')")
    return lines


def render(table: list[Any]) -> str:
    def cell(v: Any) -> str:
        if v is None:
            return "-"
        if isinstance(v, str):
            return v
        return f"{v:,.0f}" if v >= 1000 else f"{v:.3g}" if v < 10 else f"{v:.1f}"

    head = (f"{'case':<44}{'unit':>10}{'fborn':>14}{'torch':>12}{'jax':>12}"
            f"{'fb/torch':>10}{'fb/jax':>9}  target")
    lines = [head, "-" * len(head)]
    for label, unit, t, target in table:
        ratios = []
        for p in ("torch", "jax"):
            ok = isinstance(t.get("fborn"), float) and isinstance(t.get(p), float)
            ratios.append(f"{t['fborn'] / t[p]:.2f}" if ok else "-")
        fb = cell(t.get("fborn"))
        lines.append(f"{label:<44}{unit:>10}{fb:>14}{cell(t.get('torch')):>12}"
                     f"{cell(t.get('jax')):>12}{ratios[0]:>10}{ratios[1]:>9}  {target}")
    return "\n".join(lines)


def profile_lenet(batch: int) -> None:
    """Print the GPU time of each kernel of the LeNet-5 training step, slowest first."""
    rng = np.random.default_rng(1)
    x = rng.random((batch, 1, 28, 28), dtype=np.float32)
    f = fborn_train_step(lenet_loss, lenet_params(), x, labels(batch, rng))
    times = f.exe.profile(f.inputs)
    total = sum(t for _, t in times)
    f.sync()
    recorded = []
    for _ in range(20):
        start = time.perf_counter()
        f.run()
        recorded.append(time.perf_counter() - start)
        f.sync()
    print(f"LeNet-5 step b{batch}: {len(times)} kernels, {total * 1e3:.3f} ms of GPU time "
          "(each kernel submitted and waited for alone); recording and submitting one step "
          f"takes {statistics.median(recorded) * 1e3:.3f} ms on the host")
    for label, t in sorted(times, key=lambda item: -item[1])[:25]:
        print(f"  {t * 1e6:10.1f} us  {label}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="smaller matmul and elementwise sizes")
    ap.add_argument("--sweep", action="store_true", help="also time every matmul tiling")
    ap.add_argument("--skip-peers", action="store_true", help="fborn only")
    ap.add_argument("--profile", type=int, metavar="BATCH",
                    help="only list the LeNet-5 step's kernels by GPU time at this batch")
    args = ap.parse_args()
    if args.profile:
        profile_lenet(args.profile)
        return
    if args.skip_peers:
        _peers.update(torch=None, jax=None)
    header = machine_lines()
    print("\n".join(header), flush=True)
    if args.sweep:
        sweep_matmul([(4096, 4096, 4096), (2048, 2048, 2048), (1024, 1024, 1024),
                      (128, 784, 128), (784, 128, 128), (4096, 784, 256)])
    table: list[Any] = []
    steps: list[tuple[Callable[..., None], tuple[Any, ...]]] = [
        (bench_matmul, (1024 if args.quick else 4096,)),
        (bench_training, ("mlp", 128)), (bench_training, ("mlp", 1024)),
        (bench_training, ("lenet", 128)), (bench_training, ("lenet", 1024)),
        (bench_elementwise, (2 ** 20 if args.quick else 2 ** 26,)),
        (bench_inference, (4096,)),
        (bench_overhead, ()),
    ]
    for fn, fargs in steps:
        start = time.perf_counter()
        try:
            fn(*fargs, table)
        except Exception as e:  # noqa: BLE001 - one broken case must not lose the others
            print(f"  {fn.__name__}{fargs} failed: {type(e).__name__}: {e}", flush=True)
        print(f"  [{fn.__name__}{fargs}: {time.perf_counter() - start:.1f} s]", flush=True)
    print("\n".join(["", *header, render(table)]))


if __name__ == "__main__":
    main()
