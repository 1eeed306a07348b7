"""Blocked selective scan in plain PyTorch: the CPU backend, built for few ops and few passes over the big tensors.

The recurrence h[t] = a[t] * h[t-1] + x[t] (a = exp(delta * A), x = delta * B * u) runs over the length split into
`n_chunks` chunks of `chunk` steps:
    1. inside every chunk at once, sequentially: `chunk - 1` in-place multiply-adds on (.., n_chunks, channels, state)
       slices (a short sequence, e.g. HTM's 4 tokens, is one chunk and needs nothing else);
    2. across chunks, sequentially on the chunk-end states: `n_chunks - 1` small steps;
    3. each chunk's local states get the carried-in state times their cumulative decay (one exp, one multiply-add).
So a scan costs about chunk + n_chunks ops (32 for 256 steps) instead of one op per step (ref) or many rounds of
cat/narrow (chunked). The big tensors are laid out (groups, batch, n_chunks, chunk, state, channels per group): every
time slice is a contiguous block, inner loops run along the channels, B and C broadcast over a group's channels without
being copied, and the output contraction over the state is one batched matmul.

Numerics: decays are values in (0, 1]: step decays exp(delta * A) and, for the carry, exp(A * (sum of delta since the
chunk's start)), never exp(-cumsum) over the whole sequence (which overflows) or differences of cumsums (which cancel),
so the result matches `scan_ref` to float rounding. The first step's decay multiplies h[-1] = 0, so it is never
formed. Differentiable: when a gradient is needed the in-chunk steps are stacked instead of written in place.
"""

import math
import threading

import torch
import torch.nn.functional as F

from motion_core.ssm.scan_ref import compute_dtype, prepare_delta

SEQUENTIAL_MAX_LENGTH = 8  # up to this length the whole sequence is one chunk
# exp() of float32 arguments below about -87 (results that are denormal or zero) takes a scalar slow path that is
# 100-300x slower (measured: 131k elements in 22 ms instead of 0.07 ms). Such arguments are clamped to keep the fast
# path; exp(-80) = 1.8e-35, so a decay that small is already zero for any state it multiplies. The clamp is a pass
# over the big tensor, so it only runs when the small tensors say an argument can pass the floor.
LOG_DECAY_FLOOR = -80.0


def _decay(delta_sum, A, may_underflow):
    """exp(delta_sum * A): delta_sum (.., 1, per_group) >= 0, A (.., state, per_group) <= 0; `may_underflow`: whether
    some delta_sum * A can pass LOG_DECAY_FLOOR (then the argument is clamped)."""
    log_decay = delta_sum * A
    if may_underflow:
        log_decay.clamp_(min=LOG_DECAY_FLOOR)
    return log_decay.exp_()


def chunk_size(length):
    """Steps per chunk: the whole sequence when short, else about sqrt(length) (balances steps 1 and 2)."""
    if length <= SEQUENTIAL_MAX_LENGTH:
        return max(length, 1)
    return max(1, round(math.sqrt(length)))


def scan_time_major(dt, u, A, B, C, chunk=None, A_min=None):
    """The blocked scan on path-major, time-major tensors (the layout the Mamba blocks produce at inference).

    Args:
        dt: (groups, batch, length, per_group) step sizes, softplus and bias already applied.
        u: (groups or 1, batch, length, per_group) inputs (1: shared by every group).
        A: (groups, state, per_group) real, <= 0 (note: state before channel).
        B, C: (groups, batch, length, state), any strides.
        chunk: steps per chunk (default `chunk_size(length)`).  A_min: A.min() when the caller has it cached.
    Returns:
        y (groups, batch, length, per_group) = sum over the state of C * h (no D term, no gate), and h at the last
        step (groups, batch, state, per_group).

    The state tensors are (groups, batch, n_chunks, chunk, state, per_group) when per_group >= state (HTM: 512
    channels innermost, so broadcast elementwise ops run long inner loops; ~15% faster than state innermost there),
    else (.., per_group, state) (BSM: 8 channels, where a 16-wide state axis innermost is ~25% faster).
    """
    groups, batch, length, per_group = dt.shape
    state = A.shape[1]
    chunk = chunk_size(length) if chunk is None else max(1, min(int(chunk), length))
    n_chunks = -(-length // chunk)
    padded = n_chunks * chunk
    if padded != length:  # identity steps at the tail: delta 0 gives decay 1 and input 0
        dt, u = F.pad(dt, (0, 0, 0, padded - length)), F.pad(u, (0, 0, 0, padded - length))
        B, C = F.pad(B, (0, 0, 0, padded - length)), F.pad(C, (0, 0, 0, padded - length))

    def chunked(v):
        """(g, batch, padded, k) -> (g, batch, n_chunks, chunk, k)."""
        return v.reshape(v.shape[0], v.shape[1], n_chunks, chunk, v.shape[-1])

    channels_inner = per_group >= state
    inner = -2 if channels_inner else -1  # where a per-channel tensor gets its size-1 state axis
    dt6 = chunked(dt).unsqueeze(inner)  # (groups, batch, n_chunks, chunk, 1, per_group) or (.., per_group, 1)
    Ag = A.reshape(groups, 1, 1, 1, state, per_group)
    # contiguous in h's layout: a strided A would hand its layout to every product with it (measured 1.4x slower)
    Ag = (Ag if channels_inner else Ag.transpose(-1, -2)).contiguous()
    A_min = float(Ag.detach().min()) if A_min is None else A_min
    # Autograd cannot record step-by-step in-place updates of one tensor, so with gradients the steps are stacked.
    in_place = not (torch.is_grad_enabled() and any(t.requires_grad for t in (dt, u, A, B, C)))

    # Bound on delta * A (one small reduction): a cumsum over a chunk is at most chunk * max(delta).
    largest_step = float(dt.detach().max()) * -A_min if dt.numel() else 0.0

    # h starts as x = delta * u * B: (groups, batch, n_chunks, chunk, state, per_group)
    h = (chunked(B).unsqueeze(-3 - inner) * chunked(dt * u).unsqueeze(inner)).contiguous()
    if chunk > 1:
        # (.., chunk - 1, state, per_group); step 0's decay multiplies h[-1] = 0 and is not needed
        decay = _decay(dt6[:, :, :, 1:], Ag, largest_step > -LOG_DECAY_FLOOR)
        if in_place:
            steps, decays = h.unbind(3), decay.unbind(3)  # views, made once (slicing per step costs ops too)
            for t in range(1, chunk):  # 1. inside every chunk
                steps[t].addcmul_(decays[t - 1], steps[t - 1])
        else:
            states = [h[:, :, :, 0]]
            for t in range(1, chunk):
                states.append(torch.addcmul(h[:, :, :, t], decay[:, :, :, t - 1], states[-1]))
            h = torch.stack(states, dim=3)
    if n_chunks > 1:
        # 2. carry across chunks: state entering chunk c = end state of chunk c-1 (including its own carry).
        # Decay from a chunk's start through step t: prod exp(delta * A) = exp(A * cumsum(delta)) (A is constant
        # over time), with the cumsum over at most `chunk` steps of the small delta tensor, not a cumprod of the big one.
        cum_decay = _decay(torch.cumsum(dt6, dim=3), Ag, chunk * largest_step > -LOG_DECAY_FLOOR)  # (groups, batch, n_chunks, chunk, state, per_group)
        ends, end_decay = h[:, :, :, -1], cum_decay[:, :, :, -1]  # (groups, batch, n_chunks, state, per_group)
        ends, end_decay = ends.unbind(2), end_decay.unbind(2)
        carries = [torch.zeros_like(ends[0])]
        for c in range(1, n_chunks):
            carries.append(torch.addcmul(ends[c - 1], end_decay[c - 1], carries[-1]))
        carry = torch.stack(carries, dim=2)  # (groups, batch, n_chunks, state, per_group)
        # 3. local states + carried-in state times cumulative decay
        h = h.addcmul_(cum_decay, carry.unsqueeze(3)) if in_place else torch.addcmul(h, cum_decay, carry.unsqueeze(3))

    h_state_first = h if channels_inner else h.transpose(-1, -2)  # (.., state, per_group)
    y = torch.matmul(chunked(C).unsqueeze(-2), h_state_first)  # (groups, batch, n_chunks, chunk, 1, per_group)
    y = y.reshape(groups, batch, padded, per_group)[:, :, :length]
    last = h_state_first.reshape(groups, batch, padded, state, per_group)[:, :, length - 1]
    return y, last


def selective_scan_blocked(u, delta, A, B, C, D=None, z=None, delta_bias=None, delta_softplus=False,
                           return_last_state=False, chunk=None):
    """Same arguments, semantics and returns as `scan_ref.selective_scan_ref`; `chunk` overrides `chunk_size`.

    B, C: (batch, groups, state, length) (see backends._as_grouped for the accepted layouts).
    """
    dtype = compute_dtype(u)
    batch, channels, length = u.shape
    groups, state = B.shape[1], A.shape[1]
    per_group = channels // groups
    if length == 0:
        out = u.new_zeros(batch, channels, 0)
        return (out, u.new_zeros(batch, channels, state, dtype=dtype)) if return_last_state else out

    delta = prepare_delta(delta, delta_bias, delta_softplus, dtype)  # (batch, channels, length)
    uf = u.to(dtype)

    def path_major(v):
        """(batch, groups * k, length) -> (groups, batch, length, k)."""
        return v.reshape(batch, groups, -1, length).permute(1, 0, 3, 2).contiguous()

    y, last = scan_time_major(path_major(delta), path_major(uf),
                              A.to(dtype).reshape(groups, per_group, state).transpose(1, 2),
                              B.to(dtype).permute(1, 0, 3, 2), C.to(dtype).permute(1, 0, 3, 2), chunk=chunk)
    y = y.permute(1, 0, 3, 2).reshape(batch, channels, length)
    if D is not None:
        y = y + D.to(dtype)[:, None] * uf
    if z is not None:
        y = y * F.silu(z.to(dtype))
    out = y.to(u.dtype)
    return (out, last.permute(1, 0, 3, 2).reshape(batch, channels, state)) if return_last_state else out


# ----------------------------------------------------------------------------------------------- inference scan
LOG2E = 1.0 / math.log(2.0)
# Below this many elements per time step (paths x batch x state x channels) a step costs mostly op overhead, so long
# sequences are blocked instead of scanned step by step (BSM: 3k elements and 256 steps; HTM: 40k and 51).
SEQUENTIAL_MIN_STEP = 8192
SEQUENTIAL_MAX_STEPS = 64


# The scan's two big intermediates (decays and states, 8 MB each at HTM's widest level) are written into buffers kept
# per thread and reused: fresh tensors that size cost page faults on every call (~15% of a denoiser call).
WORKSPACE_MAX_BYTES = 64 * 2 ** 20  # larger requests (very long sequences) get fresh tensors, not kept
_workspace = threading.local()


def _buffer(slot, shape, like):
    """An uninitialised tensor of `shape` (dtype and device of `like`), backed by this thread's buffer `slot`."""
    numel = math.prod(shape)
    if numel * like.element_size() > WORKSPACE_MAX_BYTES:
        return like.new_empty(shape)
    buffers = _workspace.__dict__.setdefault("buffers", {})
    key = (slot, like.dtype, like.device)
    buffer = buffers.get(key)
    if buffer is None or buffer.numel() < numel:
        with torch.inference_mode(False):  # an inference tensor could not be written outside inference mode
            buffer = buffers[key] = like.new_empty(numel)
    return buffer[:numel].view(shape)


def scan_inference(dt, u, A2, B, C, A2_min=None, chunk=None):
    """`scan_time_major` for inference on CPU (no autograd): same maths and layout, about 3x faster.

    Args:
        dt, u, B, C: as in `scan_time_major`.
        A2: (groups, state, per_group) A * log2(e) (decays are exp2(delta * A2): torch's exp goes through MKL's
            vector maths, which on AMD CPUs runs ~3.5x slower than its own vectorised exp2).
        A2_min: A2.min() when cached.  chunk: steps per block (default: whole sequence when a step is big enough,
            else `chunk_size(length)`).
    Returns:
        y (groups, batch, length, per_group) and the last state (groups, batch, state, per_group).

    Each decay is computed once: step by step, the whole sequence is one block; blocked, the state entering a block
    is added to its steps by a second short loop (carry *= decay[t]; h[t] += carry) instead of a second exp over
    the whole state tensor (exp of the cumulative sum, as `scan_time_major` does).
    """
    groups, batch, length, per_group = dt.shape
    state = A2.shape[1]
    if chunk is None:
        step_size = groups * batch * state * per_group
        sequential = length <= SEQUENTIAL_MAX_STEPS or step_size >= SEQUENTIAL_MIN_STEP
        chunk = length if sequential else chunk_size(length)
    chunk = max(1, min(int(chunk), length))
    n_chunks = -(-length // chunk)
    padded = n_chunks * chunk
    if padded != length:  # identity steps at the tail: delta 0 gives decay 1 and input 0
        dt, u = F.pad(dt, (0, 0, 0, padded - length)), F.pad(u, (0, 0, 0, padded - length))
        B, C = F.pad(B, (0, 0, 0, padded - length)), F.pad(C, (0, 0, 0, padded - length))
    A2_min = float(A2.min()) if A2_min is None else A2_min
    largest_step = float(dt.max()) * -A2_min if dt.numel() else 0.0  # bound on -delta * A2 for one step
    floor = LOG_DECAY_FLOOR * LOG2E

    dt6 = dt.reshape(groups, batch, n_chunks, chunk, 1, per_group)
    A6 = A2.reshape(groups, 1, 1, 1, state, per_group)
    # h starts as x = delta * u * B, then holds the states: (groups, batch, n_chunks, chunk, state, per_group)
    shape = (groups, batch, n_chunks, chunk, state, per_group)
    h = torch.mul(B.reshape(groups, batch, n_chunks, chunk, state, 1),
                  (dt * u).reshape(groups, batch, n_chunks, chunk, 1, per_group), out=_buffer("h", shape, dt))
    log_decay = torch.mul(dt6, A6, out=_buffer("decay", shape, dt))
    if largest_step > -floor:
        log_decay.clamp_(min=floor)
    steps, decays = h.unbind(3), log_decay.exp2_().unbind(3)
    for t in range(1, chunk):  # inside every block (step 0's decay multiplies h[-1] = 0)
        steps[t].addcmul_(decays[t], steps[t - 1])
    if n_chunks > 1:
        # state entering block c = end of block c-1 with its own carry; a block's total decay from its delta sum
        log_end = dt6.sum(3) * A6.squeeze(3)  # (groups, batch, n_chunks, state, per_group)
        if chunk * largest_step > -floor:
            log_end.clamp_(min=floor)
        end_decay, ends = log_end.exp2_().unbind(2), steps[-1].unbind(2)
        carry = torch.zeros_like(steps[-1])
        carries = carry.unbind(2)
        for c in range(1, n_chunks):
            torch.addcmul(ends[c - 1], end_decay[c - 1], carries[c - 1], out=carries[c])
        for t in range(chunk):  # each step gets the carried-in state times its decay since the block's start
            carry.mul_(decays[t])
            steps[t].add_(carry)

    y = torch.matmul(C.reshape(groups, batch, n_chunks, chunk, 1, state), h)  # (.., chunk, 1, per_group)
    y = y.reshape(groups, batch, padded, per_group)[:, :, :length]
    last = h.reshape(groups, batch, padded, state, per_group)[:, :, length - 1].clone()  # h is reused
    return y, last
