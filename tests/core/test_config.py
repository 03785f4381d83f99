"""fborn.config: flag names, unknown names, and the override block restoring every flag."""

from __future__ import annotations

import numpy as np
import pytest

import fborn
import fborn.numpy as fnp


def test_update_accepts_jax_prefix_and_rejects_unknown_names():
    fborn.config.update("jax_enable_x64", True)
    assert fborn.config.read("enable_x64") is True
    with pytest.raises(ValueError, match="unknown fborn config option 'no_such_flag'"):
        fborn.config.update("no_such_flag", 1)


def test_override_sets_flags_inside_the_block_only():
    before = fborn.config.snapshot()
    assert fnp.asarray(np.float64(1.5)).dtype == np.float32
    with fborn.config.override(enable_x64=True, jit_compiler="reference"):
        assert fnp.asarray(np.float64(1.5)).dtype == np.float64
        assert fborn.config.jit_compiler == "reference"
    assert fborn.config.snapshot() == before


def test_override_restores_after_an_exception_and_a_bad_name():
    with pytest.raises(RuntimeError), fborn.config.override(enable_x64=True):
        raise RuntimeError("inside")
    assert fborn.config.enable_x64 is False
    with pytest.raises(ValueError), fborn.config.override(enable_x64=True, bogus=1):
        pass
    assert fborn.config.enable_x64 is False


def test_jit_fast_path_follows_the_x64_flag():
    f = fborn.jit(lambda a: a * 2)
    x = np.arange(3, dtype=np.float64)
    assert f(x).dtype == np.float32
    with fborn.config.override(enable_x64=True):
        assert f(x).dtype == np.float64
    assert f(x).dtype == np.float32
