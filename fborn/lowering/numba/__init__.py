"""The numba backend: renders kernel-IR programs as one njit function per jaxpr."""
