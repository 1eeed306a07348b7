"""The `triton` backend: fused Triton selective-scan kernels (forward and backward). Kernels land in the next commit."""

import importlib.util


def triton_available():
    """True when the triton package can be imported (it ships with CUDA builds of torch)."""
    return importlib.util.find_spec("triton") is not None
