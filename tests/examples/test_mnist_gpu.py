"""The MNIST examples train and predict with ``--device gpu`` (lavapipe in CI) on a few
images."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _example(name: str):
    sys.path.insert(0, str(EXAMPLES))
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("name", ["mnist_mlp", "mnist_cnn"])
def test_train_and_predict_on_the_gpu(name: str, tmp_path: Path,
                                      capsys: pytest.CaptureFixture) -> None:
    example = _example(name)
    checkpoint = str(tmp_path / f"{name}.fbc")
    flags = ["--device", "gpu", "--limit", "64", "--batch-size", "32"]
    accuracy = example.main([*flags, "--epochs", "1", "--no-progress", "--save", checkpoint])
    out = capsys.readouterr().out
    assert "on GpuDevice(id=0)" in out and "epoch  1  train loss" in out
    assert 0.0 <= accuracy <= 1.0 and (accuracy * 64).is_integer()
    classes = example.main(["predict", *flags, "--load", checkpoint, "--count", "5"])
    assert classes.shape == (5,) and np.all((classes >= 0) & (classes < 10))
