"""Reference selective scan: a sequential loop over time in plain PyTorch, the ground truth for every backend.

Semantics are mamba-ssm's `selective_scan_fn` (Mamba, Gu & Dao 2023, Algorithm 2), per batch b, channel d, state n:

    delta   = softplus(delta + delta_bias)            (bias and softplus optional)
    h[t]    = exp(delta[t] * A[d, n]) * h[t-1] + delta[t] * B[g, n, t] * u[t]     h[-1] = 0
    y[t]    = sum_n C[g, n, t] * h[t, n] + D[d] * u[t]
    out[t]  = y[t] * silu(z[t])                        (gate optional)

with g = d // (channels // groups). Maths runs in float32 (float64 when the inputs are float64); `out` comes back in
u's dtype, as the fused kernels do. Autograd differentiates the loop, so this is also the gradient reference.
"""

import torch
import torch.nn.functional as F


def compute_dtype(u):
    """float64 stays float64 (tight tests); everything else is computed in float32."""
    return torch.float64 if u.dtype == torch.float64 else torch.float32


def prepare_delta(delta, delta_bias, delta_softplus, dtype):
    """delta (batch, channels, length) -> the step size actually used, in `dtype`."""
    delta = delta.to(dtype)
    if delta_bias is not None:
        delta = delta + delta_bias.to(dtype)[:, None]
    if delta_softplus:
        delta = F.softplus(delta)  # threshold 20, as the CUDA kernel's `x <= 20 ? log1p(exp(x)) : x`
    return delta


def expand_groups(BC, channels):
    """B or C (batch, groups, state, length) -> (batch, channels, state, length) by repeating each group."""
    groups = BC.shape[1]
    return BC.repeat_interleave(channels // groups, dim=1) if groups > 1 else BC.expand(-1, channels, -1, -1)


def selective_scan_ref(u, delta, A, B, C, D=None, z=None, delta_bias=None, delta_softplus=False,
                       return_last_state=False):
    """Sequential selective scan.

    Args:
        u, delta: (batch, channels, length).
        A: (channels, state) real.
        B, C: (batch, groups, state, length), channels divisible by groups.
        D, delta_bias: (channels,) or None.  z: (batch, channels, length) or None.
    Returns:
        out (batch, channels, length) in u's dtype, and the last state (batch, channels, state) in the compute
        dtype when `return_last_state`.
    """
    dtype = compute_dtype(u)
    batch, channels, length = u.shape
    delta = prepare_delta(delta, delta_bias, delta_softplus, dtype)
    uf = u.to(dtype)
    Af = A.to(dtype)
    Bf = expand_groups(B.to(dtype), channels)  # (batch, channels, state, length)
    Cf = expand_groups(C.to(dtype), channels)

    h = uf.new_zeros(batch, channels, A.shape[1])
    ys = []
    for t in range(length):
        dt = delta[:, :, t, None]  # (batch, channels, 1)
        h = torch.exp(dt * Af) * h + dt * Bf[..., t] * uf[:, :, t, None]
        ys.append((h * Cf[..., t]).sum(-1))
    y = torch.stack(ys, dim=-1) if ys else uf.new_zeros(batch, channels, 0)
    if D is not None:
        y = y + D.to(dtype)[:, None] * uf
    if z is not None:
        y = y * F.silu(z.to(dtype))
    out = y.to(u.dtype)
    return (out, h) if return_last_state else out
