"""``fborn.devices``, ``local_devices``, ``default_backend`` and ``device_put``: platforms from
``$FBORN_PLATFORM``, CPU device counts from ``$FBORN_NUM_CPU_DEVICES``, GPU devices from wgpu's
adapters (lavapipe in CI)."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

import fborn
from fborn.core.array import CPU_DEVICE, ArrayImpl
from fborn.core.gpu_array import GpuArray


def test_default_backend_follows_the_environment(monkeypatch):
    monkeypatch.delenv("FBORN_PLATFORM", raising=False)
    assert fborn.default_backend() == "cpu"
    monkeypatch.setenv("FBORN_PLATFORM", "GPU")
    assert fborn.default_backend() == "gpu"
    monkeypatch.setenv("FBORN_PLATFORM", "tpu")
    with pytest.raises(ValueError, match="FBORN_PLATFORM='tpu'"):
        fborn.default_backend()


def test_cpu_devices_are_unique_objects_counted_by_the_environment(monkeypatch):
    monkeypatch.delenv("FBORN_PLATFORM", raising=False)
    assert fborn.devices() == [CPU_DEVICE]
    monkeypatch.setenv("FBORN_NUM_CPU_DEVICES", "3")
    devs = fborn.local_devices("cpu")
    assert [d.id for d in devs] == [0, 1, 2] and devs[0] is CPU_DEVICE
    assert all(d.platform == "cpu" for d in devs) and fborn.devices("cpu")[2] is devs[2]
    assert repr(devs[1]) == "CpuDevice(id=1)"
    monkeypatch.setenv("FBORN_NUM_CPU_DEVICES", "0")
    with pytest.raises(ValueError, match="FBORN_NUM_CPU_DEVICES"):
        fborn.devices("cpu")
    with pytest.raises(ValueError, match="unknown backend 'tpu'"):
        fborn.devices("tpu")


def test_gpu_devices_one_per_adapter():
    devs = fborn.devices("gpu")
    assert devs and [d.id for d in devs] == list(range(len(devs)))
    assert all(d.platform == "gpu" for d in devs) and fborn.devices("gpu")[0] is devs[0]
    assert repr(devs[0]) == "GpuDevice(id=0)"


def test_device_put_moves_pytrees_between_host_and_gpu(monkeypatch):
    monkeypatch.setenv("FBORN_NUM_CPU_DEVICES", "2")
    gpu, cpu1 = fborn.devices("gpu")[0], fborn.devices("cpu")[1]
    tree = {"w": np.arange(6, dtype=np.float32).reshape(2, 3), "n": 3, "flags": [True]}
    on_gpu = fborn.device_put(tree, gpu)
    assert all(isinstance(v, GpuArray) and v.device is gpu
               for v in fborn.tree_util.tree_leaves(on_gpu))
    assert on_gpu["n"].weak_type and on_gpu["n"].dtype == np.int32
    assert fborn.device_put(on_gpu["w"], gpu) is on_gpu["w"]
    back = fborn.device_put(on_gpu, cpu1)
    assert type(back["w"]) is ArrayImpl and back["w"].device is cpu1
    np.testing.assert_array_equal(np.asarray(back["w"]), tree["w"])
    assert back["flags"][0].dtype == np.bool_ and bool(back["flags"][0])
    with pytest.raises(TypeError, match="fborn Device"):
        fborn.device_put(1.0, "gpu")


def test_device_put_defaults_to_the_platform(monkeypatch):
    monkeypatch.setenv("FBORN_PLATFORM", "gpu")
    assert isinstance(fborn.device_put(np.ones(2)), GpuArray)
    monkeypatch.setenv("FBORN_PLATFORM", "cpu")
    assert type(fborn.device_put(np.ones(2))) is ArrayImpl


def test_import_fborn_and_listing_cpu_devices_do_not_load_wgpu():
    code = ("import sys, fborn; fborn.devices(); fborn.device_put(1.0); "
            "assert 'wgpu' not in sys.modules, 'wgpu imported'")
    subprocess.run([sys.executable, "-c", code], check=True)
