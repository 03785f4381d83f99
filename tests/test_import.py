"""``import fborn`` stays light: no backend (numba, wgpu) and no jax is loaded."""

from __future__ import annotations

import subprocess
import sys


def test_import_loads_no_backend():
    code = ("import sys, fborn, fborn.numpy, fborn.random; "
            "print(sorted(m for m in ('numba', 'wgpu', 'jax', 'llvmlite') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "[]"
