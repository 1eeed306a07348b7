"""The public selective-scan operator: argument checks, backend choice, and the call into one backend.

Backends (all give the same numbers within float tolerance, all differentiable):
    ref      sequential PyTorch loop (scan_ref.py), the ground truth
    chunked  chunked parallel PyTorch scan (scan_chunked.py)
    blocked  blocked sequential PyTorch scan (scan_blocked.py), the CPU default: fewest ops at both Motion Mamba shapes
    triton   our fused Triton kernels (scan_triton.py), CUDA tensors, no compile step at install
    cuda     mamba-ssm's compiled `selective_scan_cuda` extension (scan_cuda.py), when importable

Choice: the `backend` argument, else the environment variable MOTION_CORE_SCAN_BACKEND, else "auto". An explicitly
named backend that cannot run raises MotionError (a configuration problem the user can fix), never a silent fallback.
"""

import logging
import os

import torch

from motion_core.errors import MotionError
from motion_core.ssm.scan_blocked import selective_scan_blocked
from motion_core.ssm.scan_chunked import selective_scan_chunked
from motion_core.ssm.scan_ref import selective_scan_ref

BACKENDS = ("ref", "chunked", "blocked", "triton", "cuda")
ENV_VAR = "MOTION_CORE_SCAN_BACKEND"
# On CPU the blocked scan wins at both Motion Mamba shapes (one core, fp32, no grad): HTM-like (2, 4608, 4), 9 groups:
# blocked 3.3 ms, ref 7.0 ms, chunked 18 ms; BSM-like (2, 16, 256), 2 groups: blocked 2.4 ms, chunked 6.3 ms,
# ref 14 ms. It takes about chunk + length / chunk ops and never copies B or C per channel.

log = logging.getLogger(__name__)
_logged_choices = set()
_resolved = {}  # (backend argument, environment value, device type, interpreted) -> (name, how)


def _triton_interpreted():
    return os.environ.get("TRITON_INTERPRET") == "1"


def backend_unavailable_reason(name, u):
    """Why backend `name` cannot run on tensors like `u` (a sentence with what to do), or None if it can."""
    if name in ("ref", "chunked", "blocked"):
        return None
    if name == "triton":
        from motion_core.ssm import scan_triton  # GPU backends load triton / the compiled extension only when asked

        if not scan_triton.triton_available():
            return "the 'triton' scan backend needs the triton package (pip install triton; it ships with CUDA torch)"
        if not u.is_cuda and not _triton_interpreted():
            return "the 'triton' scan backend runs on CUDA tensors only; move the model to a GPU or pick 'chunked'"
        return None
    if name == "cuda":
        from motion_core.ssm import scan_cuda

        if not u.is_cuda:
            return "the 'cuda' scan backend runs on CUDA tensors only; move the model to a GPU or pick 'chunked'"
        problem = scan_cuda.extension_problem()
        if problem:
            return problem
        return None
    raise ValueError(f"unknown backend {name!r}")


def requested_backend(backend=None):
    """The backend asked for: the argument, else the environment variable, else 'auto' (validated)."""
    name = backend if backend is not None else os.environ.get(ENV_VAR, "auto")
    name = name.strip().lower()
    if name != "auto" and name not in BACKENDS:
        source = "backend argument" if backend is not None else ENV_VAR
        raise MotionError(f"unknown scan backend {name!r} in {source}; choose one of auto, {', '.join(BACKENDS)}")
    return name


def choose_backend(u, backend=None, state=16):
    """Resolve the backend for tensors like `u` (batch, channels, length) with `state` states per channel.

    Logs each distinct choice once. Resolutions that do not depend on the shape are cached: at the paper's sizes a
    scan costs a few microseconds of GPU time, so host-side work per call matters.
    """
    env = os.environ.get(ENV_VAR) if backend is None else None
    cache_key = (backend, env, u.device.type, _triton_interpreted())
    cached = _resolved.get(cache_key)
    if cached is not None:
        name, how = cached
    else:
        name, how = _resolve(u, backend, state)
        _resolved[cache_key] = (name, how)
    key = (name, how, u.device.type)
    if key not in _logged_choices:
        _logged_choices.add(key)
        log.info("selective scan: using the %r backend (%s, %s tensors)", name, how, u.device.type)
    return name


def _resolve(u, backend, state):
    name = requested_backend(backend)
    if name == "auto":
        if u.is_cuda:
            # Fastest first, by the scan benchmark (docs/results/scan_bench_*.json).
            name = next(n for n in ("triton", "cuda", "chunked") if backend_unavailable_reason(n, u) is None)
        else:
            name = "blocked"
        how = "auto"
    else:
        reason = backend_unavailable_reason(name, u)
        if reason:
            raise MotionError(reason)
        how = "requested"
    return name, how


def _as_grouped(BC, batch, channels, length, name):
    """B or C in any accepted layout -> (batch, groups, state, length) (a view where possible)."""
    if BC.dim() == 2:  # constant per channel (channels, state): one group per channel, broadcast over batch/time
        if BC.shape[0] != channels:
            raise ValueError(f"{name} of shape {tuple(BC.shape)} must be (channels={channels}, state)")
        return BC.unsqueeze(0).unsqueeze(-1).expand(batch, channels, BC.shape[1], length)
    if BC.dim() == 3:
        BC = BC.unsqueeze(1)
    if BC.dim() != 4 or BC.shape[0] != batch or BC.shape[3] != length:
        raise ValueError(f"{name} of shape {tuple(BC.shape)} must be (batch={batch}, groups, state, "
                         f"length={length}) or (batch, state, length)")
    if channels % BC.shape[1]:
        raise ValueError(f"channels ({channels}) must be divisible by the groups of {name} ({BC.shape[1]})")
    return BC


def selective_scan(u, delta, A, B, C, D=None, z=None, delta_bias=None, delta_softplus=False,
                   return_last_state=False, backend=None):
    """Selective scan with mamba-ssm's `selective_scan_fn` semantics (see scan_ref.py for the maths).

    Args:
        u, delta: (batch, channels, length), float32/float16/bfloat16 (float64 on ref/chunked).
        A: (channels, state) real, float32.
        B, C: (batch, groups, state, length) with channels divisible by groups; (batch, state, length) for one
            group; or (channels, state) constant over time.
        D, delta_bias: (channels,) float32 or None.  z: (batch, channels, length) gate or None.
        delta_softplus: apply softplus to delta + delta_bias.
        return_last_state: also return the final state (batch, channels, state), float32 (no gradient on fast
            backends, as in mamba-ssm).
        backend: "auto", "ref", "chunked", "blocked", "triton", "cuda" or None (then MOTION_CORE_SCAN_BACKEND, then auto).
    Returns:
        out (batch, channels, length) in u's dtype, or (out, last_state).
    """
    if u.dim() != 3 or delta.shape != u.shape:
        raise ValueError(f"u {tuple(u.shape)} and delta {tuple(delta.shape)} must both be (batch, channels, length)")
    batch, channels, length = u.shape
    if A.dim() != 2 or A.shape[0] != channels:
        raise ValueError(f"A of shape {tuple(A.shape)} must be (channels={channels}, state)")
    if A.is_complex():
        raise ValueError("complex A is not supported; use a real A (S4D-real, as Mamba does)")
    B = _as_grouped(B, batch, channels, length, "B")
    C = _as_grouped(C, batch, channels, length, "C")
    if B.shape[2] != A.shape[1] or C.shape[2] != A.shape[1]:
        raise ValueError(f"B {tuple(B.shape)} and C {tuple(C.shape)} must have state size {A.shape[1]} (from A)")
    if z is not None and z.shape != u.shape:
        raise ValueError(f"z of shape {tuple(z.shape)} must match u {tuple(u.shape)}")
    for name, vector in (("D", D), ("delta_bias", delta_bias)):
        if vector is not None and vector.shape != (channels,):
            raise ValueError(f"{name} of shape {tuple(vector.shape)} must be (channels={channels},)")

    name = choose_backend(u, backend, state=A.shape[1])
    args = (u, delta, A, B, C, D, z, delta_bias, delta_softplus, return_last_state)
    if name == "ref":
        return selective_scan_ref(*args)
    if name == "chunked":
        return selective_scan_chunked(*args)
    if name == "blocked":
        return selective_scan_blocked(*args)
    if name == "triton":  # the GPU backends import triton / the compiled extension: only when chosen
        from motion_core.ssm.scan_triton import selective_scan_triton

        return selective_scan_triton(*args)
    from motion_core.ssm.scan_cuda import selective_scan_cuda_ext

    return selective_scan_cuda_ext(*args)


def scan_backend_info(device="cpu"):
    """{backend: None if usable on `device` else the reason} — for diagnostics and the benchmark."""
    probe = torch.empty(1, 1, 1, device=device)
    return {name: backend_unavailable_reason(name, probe) for name in BACKENDS}
