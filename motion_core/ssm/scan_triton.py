"""The `triton` backend: fused selective-scan kernels, forward and backward, in Triton (JIT-compiled on first use).

One program owns BLOCK_D channels of one batch row (all inside one B/C group) and walks the sequence in chunks of
CHUNK steps. Per chunk it reads u, delta (and z) as (CHUNK, BLOCK_D) tiles and B, C as (CHUNK, state) tiles, so every
input byte is read once with coalesced loads along time; builds decay = exp(delta * A) and input = delta * B * u as
(CHUNK, state, BLOCK_D) register tiles, time kept inside each thread; scans them along time in registers
(tl.associative_scan, a sequential loop per thread) starting from the carried fp32 state; contracts with C over the
state axis; and writes y (gated, plus D * u) once. Nothing of size
(..., length, state) ever touches memory, which is where the plain PyTorch scans lose.

Backward walks the chunks in reverse: it recomputes the chunk's states from the state the forward saved at the chunk
start (saved only when a gradient is needed), runs the adjoint recurrence g[t] = dy[t] * C[t] + a[t+1] * g[t+1]
as a reverse scan, and emits du, ddelta, dz per element, dB and dC through fp32 atomics across the channel blocks of
a group, and dA, dD, ddelta_bias as per-batch partial sums reduced in PyTorch.

Inputs may be float32, float16 or bfloat16 (upcast to float32 on load); the state and all accumulation are float32.
Arbitrary strides are accepted (a channel-last view passes without a copy); time-contiguous is fastest.
`import triton` happens only when a kernel is first needed, so CPU-only machines import this module fine.

Measured on an H200 (docs/results/scan_bench_h200.json, fp32, state 16): device time per forward (CUDA-graph replay)
1.6 us at (2, 512, 4), 7.1 us at (2, 8, 256), 9.3 us at (1, 1024, 196), 247 us at (8, 1536, 2048) and 1.56 ms at
(4, 2048, 16384), against 9.2 / 9.2 / 12.1 / 818 / 4578 us for mamba-ssm's selective_scan_cuda in the same run.
Called eagerly, a launch costs tens of microseconds of host time in Triton's Python launcher (about 40 arguments to
specialise), more than mamba-ssm's pybind call: at the paper's sizes capture the sampler in a CUDA graph (after one
warm-up call per shape, which compiles the kernel). Long sequences reach 25-30% of copy bandwidth and are not
bound by bytes: the loop body is 691 SASS instructions per warp per 16 steps x 8 channels x 16 states (64 of them
exp2), an issue floor of 0.67 ms and an exp2 floor of 0.5 ms at (4, 2048, 16384) against 1.56 ms measured; the rest
is latency, with ~8 resident warps per SM (211 registers per thread) and each chunk's loads not prefetched.
"""

import functools
import importlib.util

import torch


@functools.cache
def triton_available():
    """True when the triton package can be imported (it ships with CUDA builds of torch)."""
    return importlib.util.find_spec("triton") is not None


@functools.cache
def _kernels():
    """The jitted kernels, imported on first use so that importing this module never imports triton."""
    from motion_core.ssm import scan_triton_kernels

    return scan_triton_kernels.fwd_kernel, scan_triton_kernels.bwd_kernel


def _next_pow2(n):
    return 1 << max(0, int(n) - 1).bit_length()


def _cdiv(a, b):
    return -(-a // b)


# Register budget: each thread keeps about (BLOCK_D * CHUNK * STATE / 32) elements per live (time, state, channel)
# tile; past ~64 the compiler spills (checked on sm_90 with ptxas: 128 per tile spills, 64 does not).
_FWD_TILE_BUDGET = 2048  # BLOCK_D * CHUNK * STATE, one warp per program
_BWD_TILE_BUDGET = 512  # the backward keeps about four times as many tiles live
_GRAD_MAX_CHUNK = 16  # with gradients, the forward's chunk (fixed for the backward) must fit the backward's budget
_MIN_PROGRAMS = 512  # about four one-warp programs per SM of an H100/H200 (132 SMs) before we trade width for count


def _largest_pow2_divisor(n, cap):
    block = 1
    while block * 2 <= cap and n % (block * 2) == 0:
        block *= 2
    return block


@functools.lru_cache(maxsize=256)
def forward_config(batch, channels, length, state, channels_per_group, max_chunk=64):
    """(BLOCK_D, CHUNK, num_warps) for the forward kernel.

    From the H200 sweep (docs/results/scan_bench_h200.json, "triton_sweep"): with a sequence that fits one chunk,
    8 channels per program is best; otherwise take the widest block (at most 8 channels) that still leaves
    _MIN_PROGRAMS programs, since the time loop is sequential per program and only programs run in parallel;
    then the longest chunk the register budget allows (BLOCK_D 8 -> CHUNK 16, BLOCK_D 1-2 -> CHUNK 64).
    A block never straddles a B/C group.
    """
    state_p = _next_pow2(state)
    length_p = _next_pow2(length)
    widest = _largest_pow2_divisor(channels_per_group, 8)
    if length_p * 8 * state_p <= _FWD_TILE_BUDGET:  # one chunk covers the sequence
        block_d = widest
    else:
        block_d = widest
        while block_d > 1 and batch * -(-channels // block_d) < _MIN_PROGRAMS:
            block_d //= 2
    chunk = max(1, min(length_p, _FWD_TILE_BUDGET // (state_p * block_d), max_chunk))
    return block_d, chunk, 1


def _launch_forward(u, delta, A, B, C, D, z, delta_bias, delta_softplus, save_states, store_last=True,
                    config=None):
    fwd_kernel, _ = _kernels()
    batch, channels, length = u.shape
    groups, state = B.shape[1], A.shape[1]
    per_group = channels // groups
    block_d, chunk, num_warps = config or forward_config(
        batch, channels, length, state, per_group, max_chunk=_GRAD_MAX_CHUNK if save_states else 64)
    state_p = _next_pow2(state)
    n_chunks = max(1, -(-length // chunk))
    out = torch.empty((batch, channels, length), dtype=u.dtype, device=u.device)
    last = torch.empty((batch, channels, state_p), dtype=torch.float32, device=u.device) if store_last else out
    saved = (torch.empty((batch, channels, n_chunks, state_p), dtype=torch.float32, device=u.device)
             if save_states else out)
    z_arg = z if z is not None else u
    grid = (_cdiv(channels, block_d), batch)
    fwd_kernel[grid](
        u, delta, A, B, C, D if D is not None else A, z_arg, delta_bias if delta_bias is not None else A,
        out, last, saved,
        channels, length, per_group, state, n_chunks,
        *u.stride(), *delta.stride(), *z_arg.stride(), *B.stride(), *C.stride(), *A.stride(),
        BLOCK_D=block_d, STATE=state_p, CHUNK=chunk,
        HAS_D=D is not None, HAS_Z=z is not None, HAS_BIAS=delta_bias is not None, SOFTPLUS=bool(delta_softplus),
        SAVE_STATES=save_states, STORE_LAST=store_last, num_warps=num_warps,
    )
    return out, (last[..., :state] if store_last else None), (saved if save_states else None), chunk


def _launch_backward(dout, u, delta, A, B, C, D, z, delta_bias, delta_softplus, saved, chunk):
    _, bwd_kernel = _kernels()
    batch, channels, length = u.shape
    groups, state = B.shape[1], A.shape[1]
    per_group = channels // groups
    state_p = _next_pow2(state)
    # the chunk is fixed by the saved states; narrow the block until the tiles fit the backward's budget
    block_d = _largest_pow2_divisor(per_group, 32)
    while block_d > 1 and (block_d * chunk * state_p > _BWD_TILE_BUDGET
                           or batch * -(-channels // block_d) < _MIN_PROGRAMS):
        block_d //= 2
    n_chunks = saved.shape[2]
    du = torch.empty((batch, channels, length), dtype=u.dtype, device=u.device)
    ddelta = torch.empty((batch, channels, length), dtype=delta.dtype, device=u.device)
    dz = torch.empty((batch, channels, length), dtype=z.dtype, device=u.device) if z is not None else du
    dB = torch.zeros((batch, groups, state, length), dtype=torch.float32, device=u.device)
    dC = torch.zeros((batch, groups, state, length), dtype=torch.float32, device=u.device)
    dA_part = torch.empty((batch, channels, state_p), dtype=torch.float32, device=u.device)
    dD_part = torch.empty((batch, channels), dtype=torch.float32, device=u.device)
    dbias_part = torch.empty((batch, channels), dtype=torch.float32, device=u.device)
    z_arg = z if z is not None else u
    grid = (_cdiv(channels, block_d), batch)
    bwd_kernel[grid](
        u, delta, A, B, C, D if D is not None else A, z_arg, delta_bias if delta_bias is not None else A,
        dout, saved, du, ddelta, dz, dB, dC, dA_part, dD_part, dbias_part,
        channels, length, per_group, state, n_chunks, groups,
        *u.stride(), *delta.stride(), *z_arg.stride(), *B.stride(), *C.stride(), *A.stride(), *dout.stride(),
        BLOCK_D=block_d, STATE=state_p, CHUNK=chunk,
        HAS_D=D is not None, HAS_Z=z is not None, HAS_BIAS=delta_bias is not None, SOFTPLUS=bool(delta_softplus),
        num_warps=1,
    )
    return (du, ddelta, dA_part.sum(0)[:, :state], dB, dC, dD_part.sum(0) if D is not None else None,
            dz if z is not None else None, dbias_part.sum(0) if delta_bias is not None else None)


class _SelectiveScanTriton(torch.autograd.Function):
    @staticmethod
    def forward(ctx, u, delta, A, B, C, D, z, delta_bias, delta_softplus):
        out, last, saved, chunk = _launch_forward(u, delta, A, B, C, D, z, delta_bias, delta_softplus,
                                                  save_states=True)
        ctx.save_for_backward(u, delta, A, B, C, D, z, delta_bias, saved)
        ctx.delta_softplus, ctx.chunk = delta_softplus, chunk
        ctx.mark_non_differentiable(last)
        return out, last

    @staticmethod
    def backward(ctx, dout, _dlast):
        u, delta, A, B, C, D, z, delta_bias, saved = ctx.saved_tensors
        du, ddelta, dA, dB, dC, dD, dz, dbias = _launch_backward(
            dout, u, delta, A, B, C, D, z, delta_bias, ctx.delta_softplus, saved, ctx.chunk)
        return (du, ddelta, dA.to(A.dtype), dB.to(B.dtype), dC.to(C.dtype),
                dD.to(D.dtype) if dD is not None else None, dz,
                dbias.to(delta_bias.dtype) if dbias is not None else None, None)


def selective_scan_triton(u, delta, A, B, C, D=None, z=None, delta_bias=None, delta_softplus=False,
                          return_last_state=False, config=None):
    """Triton selective scan with our operator's arguments (B, C already (batch, groups, state, length)).

    `config` = (BLOCK_D, CHUNK, num_warps) overrides the forward's heuristic (benchmarking only; inference path).
    """
    needs_grad = torch.is_grad_enabled() and any(
        t is not None and t.requires_grad for t in (u, delta, A, B, C, D, z, delta_bias))
    if needs_grad:
        out, last = _SelectiveScanTriton.apply(u, delta, A, B, C, D, z, delta_bias, delta_softplus)
    else:  # inference: no autograd node, no saved states
        out, last, _, _ = _launch_forward(u, delta, A, B, C, D, z, delta_bias, delta_softplus,
                                          save_states=False, store_last=return_last_state, config=config)
    return (out, last) if return_last_state else out
