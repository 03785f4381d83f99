"""Test configuration: a hypothesis profile that keeps CI fast, and config isolation."""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, settings

import fborn

settings.register_profile(
    "ci", max_examples=10, deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    derandomize=True,
)
settings.register_profile(
    "dev", max_examples=50, deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
# The default keeps the whole suite (every jit compiles with numba) inside CI's time budget;
# HYPOTHESIS_PROFILE=dev runs more examples.
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture(autouse=True)
def _restore_config():
    """Every test starts from the default configuration (x64 off) and cannot leak changes."""
    saved = fborn.config.snapshot()
    yield
    fborn.config.restore(saved)


@pytest.fixture
def x64():
    """Enable 64-bit types for one test."""
    fborn.config.update("enable_x64", True)
    yield
