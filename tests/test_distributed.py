"""fborn.distributed: the single-process defaults, and a 2-process MPI job (mpiexec) running
pmap's psum and a data-parallel training step across the processes' devices."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import fborn
from fborn import distributed


def test_single_process_defaults():
    assert not distributed.is_initialized()
    assert distributed.process_index() == 0 and distributed.process_count() == 1
    local = fborn.local_devices("cpu")
    assert distributed.global_devices(local) == local
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    assert distributed.allgather(x) is x
    distributed.barrier()


MPI_SCRIPT = textwrap.dedent("""
    import sys
    from pathlib import Path

    import numpy as np
    import fborn, fborn.numpy as fnp
    from fborn import distributed, lax, nn, optim, training

    distributed.initialize()
    rank, size = distributed.process_index(), distributed.process_count()
    local = fborn.local_devices("cpu")
    everything = distributed.global_devices(local)
    assert size == 2 and len(local) == 2 and len(everything) == 4, (size, everything)
    assert [d.process_index for d in everything] == [0, 0, 1, 1]

    # psum over 4 devices of 2 processes: each process passes its 2 local rows.
    x = np.arange(8, dtype=np.float32).reshape(4, 2)
    mine = x[2 * rank:2 * rank + 2]
    out = fborn.pmap(lambda a: (lax.psum(a, "i"), lax.axis_index("i"),
                                lax.all_gather(a, "i")), axis_name="i")(mine)
    np.testing.assert_array_equal(np.asarray(out[0]), np.broadcast_to(x.sum(0), (2, 2)))
    np.testing.assert_array_equal(np.asarray(out[1]), [2 * rank, 2 * rank + 1])
    np.testing.assert_array_equal(np.asarray(out[2])[0], x)

    # A data-parallel step over the global batch equals the single-device step.
    rng = np.random.default_rng(0)
    params = {"w": rng.normal(size=(5, 3)).astype(np.float32),
              "b": np.zeros(3, np.float32)}
    xb = rng.normal(size=(16, 5)).astype(np.float32)
    yb = (np.arange(16) % 3).astype(np.int32)
    opt = optim.sgd(0.5)
    state = opt.init(params)

    def loss_fn(p, xs, ys):
        return fnp.mean(nn.softmax_cross_entropy_with_integer_labels(xs @ p["w"] + p["b"], ys))

    p1, _, loss1 = training.make_step(loss_fn, opt)(params, state, xb, yb)
    pstep = training.make_parallel_step(loss_fn, opt, in_axes=(None, None, 0, 0))
    rows = slice(8 * rank, 8 * rank + 8)
    pn, _, lossn = pstep(params, state, xb[rows].reshape(2, 4, 5), yb[rows].reshape(2, 4))
    np.testing.assert_allclose(np.asarray(lossn), [float(loss1)] * 2, rtol=1e-5)
    for k in params:
        for dev in range(2):
            np.testing.assert_allclose(np.asarray(pn[k])[dev], np.asarray(p1[k]), rtol=1e-5,
                                       atol=1e-6)
    distributed.shutdown()
    Path(sys.argv[1], f"rank{rank}.ok").write_text("ok")
""")


def _mpiexec() -> str | None:
    found = shutil.which("mpiexec", path=os.pathsep.join([str(Path(sys.executable).parent),
                                                          os.environ.get("PATH", "")]))
    try:
        import mpi4py  # noqa: F401
    except ImportError:
        return None
    return found


@pytest.mark.skipif(_mpiexec() is None, reason="needs mpi4py and mpiexec (pip install "
                                               "'fborn[mpi]')")
def test_two_process_psum_and_data_parallel_step(tmp_path: Path):
    script = tmp_path / "mpi_job.py"
    script.write_text(MPI_SCRIPT)
    source_root = str(Path(fborn.__file__).parents[1])
    env = {**os.environ, "FBORN_NUM_CPU_DEVICES": "2", "FBORN_JIT_COMPILER": "reference",
           "PYTHONPATH": os.pathsep.join([source_root, os.environ.get("PYTHONPATH", "")])}
    result = subprocess.run([_mpiexec(), "-n", "2", sys.executable, "-m", "mpi4py", str(script),
                             str(tmp_path)],
                            capture_output=True, text=True, timeout=60, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    # Each rank leaves a marker file: the two processes' stdout may interleave.
    assert sorted(p.name for p in tmp_path.glob("rank*.ok")) == ["rank0.ok", "rank1.ok"]


def test_initialize_without_mpi_names_the_extra(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setitem(sys.modules, "mpi4py", None)
    with pytest.raises(ImportError, match=r"fborn\[mpi\]"):
        distributed.initialize()
    assert not distributed.is_initialized()
