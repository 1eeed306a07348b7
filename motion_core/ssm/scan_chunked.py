"""Chunked parallel selective scan in plain PyTorch: few large ops instead of one small op per time step.

The recurrence h[t] = a[t] * h[t-1] + x[t] (a = exp(delta * A) in (0, 1], x = delta * B * u) is scanned in two levels:
inside chunks of `chunk` steps with a Hillis-Steele doubling scan (log2(chunk) rounds), then across the chunk totals
the same way, and each chunk's local states get the carried-in state times their cumulative decay.

Numerically stable: decays are multiplied as values in (0, 1], never formed as exp(-cumsum) (which overflows once the
summed |delta * A| passes ~88 in float32) or as differences of cumsums (which cancel). Memory is a few tensors of
(batch, channels, length, state); the sequential reference keeps only (batch, channels, state), so on long sequences
this backend trades memory for speed.
"""

import torch
import torch.nn.functional as F

from motion_core.ssm.scan_ref import compute_dtype, prepare_delta

DEFAULT_CHUNK = 32


def _scan_doubling(decay, x, dim):
    """Inclusive scan of h[t] = decay[t] * h[t-1] + x[t] along `dim` (h[-1] = 0) by doubling.

    Returns (cumulative decay, h), both shaped like the inputs.
    """
    n = decay.shape[dim]
    step = 1
    while step < n:
        keep_x, keep_decay = x.narrow(dim, 0, step), decay.narrow(dim, 0, step)
        tail_decay = decay.narrow(dim, step, n - step)
        # x[t] <- x[t] + decay[t..] * x[t - step]; decay[t] <- decay[t] * decay[t - step]
        x = torch.cat([keep_x, x.narrow(dim, step, n - step) + tail_decay * x.narrow(dim, 0, n - step)], dim)
        decay = torch.cat([keep_decay, tail_decay * decay.narrow(dim, 0, n - step)], dim)
        step *= 2
    return decay, x


def selective_scan_chunked(u, delta, A, B, C, D=None, z=None, delta_bias=None, delta_softplus=False,
                           return_last_state=False, chunk=DEFAULT_CHUNK):
    """Same arguments, semantics and returns as `scan_ref.selective_scan_ref`; `chunk` is the inner scan length."""
    dtype = compute_dtype(u)
    batch, channels, length = u.shape
    groups, state = B.shape[1], A.shape[1]
    per_group = channels // groups
    delta = prepare_delta(delta, delta_bias, delta_softplus, dtype)
    uf = u.to(dtype)

    # (batch, groups, channels per group, length, state); B and C broadcast over the channels of their group.
    dt = delta.view(batch, groups, per_group, length, 1)
    Ag = A.to(dtype).view(1, groups, per_group, 1, state)
    Bg = B.to(dtype).transpose(-1, -2).unsqueeze(2)  # (batch, groups, 1, length, state)
    Cg = C.to(dtype).transpose(-1, -2).unsqueeze(2)
    decay = torch.exp(dt * Ag)
    x = dt * uf.view(batch, groups, per_group, length, 1) * Bg

    # Pad the tail with identity steps (decay 1, input 0) so length splits into whole chunks.
    chunk = max(1, min(chunk, length))
    padded = -(-length // chunk) * chunk
    if padded != length:
        decay = F.pad(decay, (0, 0, 0, padded - length), value=1.0)
        x = F.pad(x, (0, 0, 0, padded - length), value=0.0)
    n_chunks = padded // chunk
    decay = decay.view(batch, groups, per_group, n_chunks, chunk, state)
    x = x.view(batch, groups, per_group, n_chunks, chunk, state)

    cum_decay, h_local = _scan_doubling(decay, x, dim=4)  # inside each chunk, from a zero state
    # States at chunk ends, then the state carried into each chunk (zero for the first).
    _, h_end = _scan_doubling(cum_decay[..., -1, :], h_local[..., -1, :], dim=3)
    carry = torch.cat([torch.zeros_like(h_end[..., :1, :]), h_end[..., :-1, :]], dim=3)
    h = h_local + cum_decay * carry.unsqueeze(4)
    h = h.view(batch, groups, per_group, padded, state)[..., :length, :]

    y = (h * Cg).sum(-1).reshape(batch, channels, length)
    if D is not None:
        y = y + D.to(dtype)[:, None] * uf
    if z is not None:
        y = y * F.silu(z.to(dtype))
    out = y.to(u.dtype)
    if return_last_state:
        last = h_end[..., -1, :].reshape(batch, channels, state)
        return out, last
    return out
