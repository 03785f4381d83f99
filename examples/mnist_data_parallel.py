"""Train the MNIST MLP of mnist_mlp.py data-parallel with fborn.pmap: every device takes a slice
of each global batch, gradients are averaged across devices with pmean, and every device applies
the same Adam update to its copy of the parameters.

    FBORN_NUM_CPU_DEVICES=4 python examples/mnist_data_parallel.py          # 4 CPU devices
    python examples/mnist_data_parallel.py --device gpu                     # every GPU
    FBORN_NUM_CPU_DEVICES=2 mpiexec -n 2 python -m mpi4py examples/mnist_data_parallel.py --mpi
    python examples/mnist_data_parallel.py predict --load mnist_data_parallel.fbc

The flags are those of mnist_mlp.py (`--batch-size` is the global batch, split evenly over all
devices of all processes), plus `--mpi` to join the MPI job the script was launched in. With
`--device gpu` (or FBORN_PLATFORM=gpu) each GPU adapter is a device: parameters and optimizer
state stay on the GPUs, the gradients are averaged through the host, and each batch is uploaded
by a background thread while the previous step runs (fborn.training.prefetch_to_devices).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parent))

import mnist_common  # noqa: E402
from mnist_mlp import build_model, prepare  # noqa: E402

import fborn  # noqa: E402
import fborn.numpy as fnp  # noqa: E402
from fborn import distributed, io, nn, optim, training  # noqa: E402
from fborn.tree_util import tree_map  # noqa: E402


def replicate(tree: Any, count: int) -> Any:
    """Every leaf stacked ``count`` times along a new leading (device) axis."""
    return tree_map(lambda leaf: np.stack([np.asarray(leaf)] * count), tree)


def unreplicate(tree: Any) -> Any:
    """Device 0's copy of every leaf (read from that device alone)."""
    def first(leaf: Any) -> np.ndarray:
        if isinstance(leaf, fborn.Array) and hasattr(leaf, "addressable_shards"):
            return np.asarray(leaf.addressable_shards[0].data)
        return np.asarray(leaf)[0]

    return tree_map(first, tree)


def shard(batch: tuple[np.ndarray, ...], count: int, global_count: int) -> list[np.ndarray]:
    """This process's share of a global batch, shaped (local devices, per device, ...)."""
    rows = len(batch[0]) // global_count
    start = distributed.process_index() * count * rows
    return [a[start:start + count * rows].reshape(count, rows, *a.shape[1:]) for a in batch]


def train(args: Any) -> float:
    """Train data-parallel, print each epoch, save a checkpoint (process 0); returns the
    final test accuracy."""
    platform = args.device or fborn.default_backend()
    devices = fborn.devices(platform)
    count = len(fborn.local_devices(platform))
    global_count = count * distributed.process_count()
    if args.batch_size % global_count:
        raise SystemExit(f"--batch-size {args.batch_size} must be a multiple of the "
                         f"{global_count} devices")
    x_train, y_train, x_test, y_test = mnist_common.load_data(args.data, prepare)
    key, init_key = fborn.random.split(fborn.random.key(args.seed))
    model = build_model(init_key)
    optimizer = optim.adam(args.lr)
    opt_state = optimizer.init(model)

    def loss_fn(model: Any, x: Any, y: Any) -> Any:
        return fnp.mean(nn.softmax_cross_entropy_with_integer_labels(model(x), y))

    step = training.make_parallel_step(loss_fn, optimizer, devices)
    local = fborn.local_devices(platform)
    params, state = replicate(model, count), replicate(opt_state, count)
    predict = fborn.jit(lambda model, x: model(x))
    leader = distributed.process_index() == 0
    if leader:
        print(f"{len(x_train)} training and {len(x_test)} test images on {global_count} "
              f"{platform} devices ({distributed.process_count()} processes), global batch "
              f"{args.batch_size}")
    test_accuracy = 0.0
    for epoch in range(1, args.epochs + 1):
        start = time.perf_counter()
        batches = io.batches(fborn.random.fold_in(key, epoch), (x_train, y_train),
                             args.batch_size)
        shards = training.prefetch_to_devices(
            (shard(batch, count, global_count) for batch in batches), local)
        bar = tqdm(shards, total=len(batches), desc=f"epoch {epoch}", unit="batch",
                   leave=False, disable=None if (leader and not args.no_progress) else True)
        losses = []
        for batch in bar:
            params, state, loss = step(params, state, *batch)
            losses.append(loss)
        seconds = time.perf_counter() - start
        model = unreplicate(params)
        test_accuracy = training.accuracy(predict, model, x_test, y_test)
        mean_loss = float(np.mean([unreplicate(v) for v in losses]))
        if leader:
            print(f"epoch {epoch:2d}  train loss {mean_loss:.4f}  test accuracy "
                  f"{test_accuracy:.4f}  ({len(batches) * args.batch_size / seconds:,.0f} "
                  f"samples/s)")
    if args.save and leader:
        io.checkpoint.save(args.save, {"model": model, "opt_state": unreplicate(state)},
                           metadata={"epochs": args.epochs, "test_accuracy": test_accuracy})
        print(f"saved {args.save}")
    return test_accuracy


def main(argv: list[str] | None = None) -> Any:
    argv = list(sys.argv[1:] if argv is None else argv)
    if "--mpi" in argv:
        argv.remove("--mpi")
        distributed.initialize()
    args = mnist_common.parse_args(__doc__.splitlines()[0], argv, epochs=10, batch_size=32,
                                   learning_rate=1e-3, checkpoint="mnist_data_parallel.fbc")
    if args.command == "predict":
        return mnist_common.predict(args, build_model, prepare)
    return train(args)


if __name__ == "__main__":
    main()
