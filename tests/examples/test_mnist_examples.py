"""The MNIST examples train on the bundled subset, save a checkpoint and predict from it."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _example(name: str) -> ModuleType:
    sys.path.insert(0, str(EXAMPLES))
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(("name", "floor"), [("mnist_mlp", 0.88), ("mnist_cnn", 0.88)])
def test_one_epoch_trains_saves_and_predicts(name: str, floor: float, tmp_path: Path,
                                             capsys: pytest.CaptureFixture) -> None:
    example = _example(name)
    checkpoint = str(tmp_path / f"{name}.fbc")
    accuracy = example.main(["--epochs", "1", "--no-progress", "--save", checkpoint])
    out = capsys.readouterr().out
    assert "epoch  1  train loss" in out and f"saved {checkpoint}" in out
    assert accuracy >= floor, out
    classes = example.main(["predict", "--load", checkpoint, "--count", "20"])
    assert classes.shape == (20,) and classes.dtype.kind == "i"
    assert np.all((classes >= 0) & (classes < 10))
    assert "correct" in capsys.readouterr().out


def test_predict_without_checkpoint_says_so(tmp_path: Path) -> None:
    example = _example("mnist_mlp")
    with pytest.raises(SystemExit, match="no checkpoint"):
        example.main(["predict", "--load", str(tmp_path / "missing.fbc")])
