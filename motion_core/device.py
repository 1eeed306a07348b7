"""Which torch device a command runs on: one rule for generation, training, evaluation and the benchmarks."""

import torch

from motion_core.errors import MotionError


def resolve_device(device="auto", local_rank=None):
    """The torch.device to run on.

    Args:
        device: 'auto' (or None): CUDA when torch sees a GPU, else the CPU; 'cpu', 'cuda', 'cuda:N' or a
            torch.device. Asking for CUDA on a machine without it is a MotionError that says to use --device cpu.
        local_rank: a distributed run's rank on this host: 'auto' then picks that rank's GPU (cuda:<local_rank>);
            None picks the current CUDA device ('cuda').
    """
    if device is None or device == "auto":
        if not torch.cuda.is_available():
            return torch.device("cpu")
        return torch.device("cuda" if local_rank is None else f"cuda:{local_rank}")
    if not isinstance(device, (str, torch.device)):
        raise MotionError(f"device must be 'auto', 'cpu' or 'cuda', got {device!r}")
    try:
        dev = torch.device(device)
    except RuntimeError:
        raise MotionError(f"unknown device {device!r}; use 'auto', 'cpu' or 'cuda'") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise MotionError("CUDA is not available on this machine (or this torch is a CPU build); use --device cpu")
    if dev.type not in ("cpu", "cuda"):
        raise MotionError(f"unsupported device {device!r}; use 'auto', 'cpu' or 'cuda'")
    return dev
