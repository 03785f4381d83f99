"""What the compiler tests share: every test compiles with numba into this session's kernel
folder (never a warm user cache), and the sibling helper modules (``jit_eager_cases``,
``compiled_checks``) are importable by name (importlib mode puts no test folder on sys.path)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

import fborn


def _register(name: str) -> None:
    if name in sys.modules:
        return
    spec = importlib.util.spec_from_file_location(name, Path(__file__).with_name(f"{name}.py"))
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)


_register("compiled_checks")
_register("jit_eager_cases")


@pytest.fixture(autouse=True)
def numba_jit(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    kernels = tmp_path_factory.getbasetemp() / "kernels"
    kernels.mkdir(exist_ok=True)
    monkeypatch.setenv("FBORN_CACHE_DIR", str(kernels))
    fborn.config.update("jit_compiler", "numba")
