"""Fused inference path of the SSM blocks on CUDA: a block is 4 kernels instead of ~30 small ones.

At the denoiser's sizes (51 tokens x 256 channels, batch 2 for guidance) every kernel is tiny, so a step's time is
its kernel count times launch-and-drain latency (issue 10). The reference path of a block (`_PathsBlock.forward`)
launches one kernel per op: in_proj, chunk, the paths' reorderings, conv, silu, two projections, exp, the scan,
the restore, the path sum, the gate, out_proj and the residual. Here it is:

    LayerNorm + in_proj  HTM: one kernel (norm_linear_kernel); BSM, whose norm runs along its sequence: a
                         LayerNorm + one cuBLAS batched GEMM
    conv_proj_kernel     per (batch row, path, 16 rows): the depthwise causal conv in the path's scan order + silu,
                         x_proj (-> dt_low | B | C) and dt_proj + bias + softplus (-> delta), written in sequence order
    scan_gate_kernel     per (batch row, 16 channels, path): the path's scan from its own end with its D term, scaled
                         (1/paths for "mean") and gated by silu(z): y_p (batch, length, paths * d_inner)
    out_proj + residual  one cuBLAS GEMM over the paths' outputs side by side, against out_proj's weight repeated
                         once per path (so the GEMM also sums the paths), with the residual as its addend

Reversed paths (HTM's odd branches reading rows from `keep_prefix` on backwards, BSM's time-reversed path) are
never materialised: the conv gathers its taps through the path's row map, and the scan walks the rows backwards.

`level_htm` and `level_bsm` are the two halves of a Motion Mamba level (x + HTM(LN x), then x + BSM(LN x) over the
channel axis) on this path; `block_forward` is any block in the (batch, length, d_model) layout. Same parameters and
maths as the reference; GPU tests compare them (tests/test_fused_block.py). fp32 throughout, projections in IEEE
fp32 (no TF32). Used only without gradients, on CUDA, where triton imports, for "sum" and "mean" aggregations.

Measured on an H100, the shipped model, one guided call (docs/results/profile_denoiser_h100_fused.json): 105
kernels and 928 us as a CUDA graph, against 305 and 1,201 us on the reference blocks and 132 and 729 us for MLD.
The call is no longer launch-bound: the kernels' own time is 857 us, 261 of them in scan_gate (BSM scans its 256
channels one after another) and 193 in conv_proj (fp32 FMA products on 40 programs).
"""

import functools

import torch
import torch.nn.functional as F

from motion_core.ssm.backends import requested_backend
from motion_core.ssm.scan_blocked import LOG2E
from motion_core.ssm.scan_triton import triton_available

enabled = True  # the benchmark and the tests switch it off to time / compare the reference path
# Rows per call (guidance counts twice) up to which the fused path is used. It is made for batch-1 latency; at batch
# 64 and 256 the reference blocks (cuBLAS + the triton scan backend) gave 1.6x its clips/s on an H100
# (docs/results/generate_bench_h100_fused_shipped.json), so large batches (evaluation, throughput) keep them.
# Where the two cross between 2 and 128 rows is not measured yet; 32 is a guess (tools/gpu/tune_fused.py can tell).
MAX_BATCH = 32
BLOCK_T = 16  # rows per conv_proj program (tl.dot needs >= 16)
BLOCK_C = 64  # channels per conv_proj inner step
MAX_CHUNK = 64  # scan rows per register tile
NUM_WARPS = 4
TILE_PER_WARP = 2048  # CHUNK * STATE * BLOCK_D per warp that fits the registers without spilling
fuse_norms = True  # HTM's LayerNorm inside its in_proj (norm_linear_kernel) instead of a LayerNorm + a GEMM
NORM_BLOCK_M, NORM_BLOCK_N, NORM_BLOCK_K = 16, 64, 64


@functools.cache
def _kernels():
    """The kernels' module, imported on first use so that importing this one never imports triton."""
    from motion_core.ssm import fused_block_kernels

    return fused_block_kernels


def norm_linear(norm, weight, x):
    """LayerNorm `norm` then a bias-free linear `weight` (N, K) on x (..., K) contiguous, as one kernel."""
    K, N = x.shape[-1], weight.shape[0]
    rows = x.numel() // K
    out = x.new_empty(*x.shape[:-1], N)
    grid = (_cdiv(rows, NORM_BLOCK_M), _cdiv(N, NORM_BLOCK_N))
    _kernels().norm_linear_kernel[grid](
        x, norm.weight, norm.bias, weight, out, rows, K, N, norm.eps,
        BLOCK_M=NORM_BLOCK_M, BLOCK_N=NORM_BLOCK_N, BLOCK_K=NORM_BLOCK_K, num_warps=NUM_WARPS)
    return out


def _cdiv(a, b):
    return -(-a // b)


def _next_pow2(n):
    return 1 << max(0, int(n) - 1).bit_length()


def usable(block, x):
    """True when `block` can run fused on x: fp32 CUDA tensors, at most MAX_BATCH rows, no gradient, triton present,
    a summing aggregation,
    and the scan backend left to "auto" or "triton" (MOTION_CORE_SCAN_BACKEND=cuda or =chunked also turns the fused
    blocks off, for a GPU where Triton misbehaves)."""
    return (enabled and x.is_cuda and x.dtype == torch.float32 and not torch.is_grad_enabled()
            and x.shape[0] <= MAX_BATCH
            and block.aggregation in ("sum", "mean") and triton_available()
            and requested_backend() in ("auto", "triton"))


def _constants(block):
    """The kernels' parameter layouts, cached until a parameter changes (in-place update, load, .to())."""
    ssm = block.ssm
    params = (ssm.conv_weight, ssm.x_proj_weight, ssm.dt_proj_weight, ssm.dt_bias, ssm.A_log, ssm.D,
              block.out_proj.weight)
    key = tuple((p._version, p.data_ptr(), p.device) for p in params)
    cached = getattr(block, "_fused_cache", None)
    if cached is not None and cached[0] == key:
        return cached[1]
    paths, d_inner, taps, state, rank = ssm.paths, ssm.d_inner, ssm.d_conv, ssm.d_state, ssm.dt_rank
    proj = max(16, _next_pow2(rank + 2 * state))
    STATE = _next_pow2(state)
    f32 = {"dtype": torch.float32, "device": ssm.A_log.device}
    with torch.no_grad():
        x_proj = torch.zeros(paths, d_inner, proj, **f32)
        x_proj[..., :rank + 2 * state] = ssm.x_proj_weight
        dt_proj = torch.zeros(paths, proj, d_inner, **f32)
        dt_proj[:, :rank] = ssm.dt_proj_weight
        A2 = torch.zeros(paths, STATE, d_inner, **f32)
        A2[:, :state] = (-torch.exp(ssm.A_log.float()) * LOG2E).view(paths, d_inner, state).transpose(1, 2)
        conv_b = ssm.conv_bias if ssm.conv_bias is not None else torch.zeros(paths * d_inner, **f32)
        constants = {
            "conv_w": ssm.conv_weight.detach().view(paths, d_inner, taps).transpose(1, 2).float().contiguous(),
            "conv_b": conv_b.detach().float().contiguous(),
            "x_proj": x_proj, "dt_proj": dt_proj, "A2": A2,
            "dt_bias": ssm.dt_bias.detach().float().contiguous(), "D": ssm.D.detach().float().contiguous(),
            "proj": proj, "STATE": STATE,
            # (d_model, paths * d_inner): y_p @ W summed over p is one GEMM over the paths side by side
            "out_w": block.out_proj.weight.detach().float().repeat(1, paths),
        }
    block._fused_cache = (key, constants)
    return constants


def ssm_gate(block, k, x_in, z, y):
    """The block's paths, each gated: x_in, z (batch, length, d_inner) views -> y (batch, length, paths * d_inner),
    any strides, path p in channels p * d_inner.. (its sum over paths, times out_proj, is the block's output).
    k: the block's `_constants`. Two kernel launches."""
    kernels = _kernels()
    ssm = block.ssm
    batch, length, d_inner = x_in.shape
    paths = ssm.paths
    alternate, prefix = int(block.alternate), int(block.keep_prefix)  # odd paths read rows from prefix on backwards
    f32 = {"dtype": torch.float32, "device": x_in.device}
    xc = torch.empty(paths, batch, length, d_inner, **f32)
    delta = torch.empty_like(xc)
    dbl = torch.empty(paths, batch, length, k["proj"], **f32)
    kernels.conv_proj_kernel[(batch, paths, _cdiv(length, BLOCK_T))](
        x_in, *x_in.stride(), k["conv_w"], k["conv_b"], k["x_proj"], k["dt_proj"], k["dt_bias"],
        xc, dbl, delta, batch, length, d_inner, prefix, alternate,
        TAPS=ssm.d_conv, PROJ=k["proj"], BLOCK_T=BLOCK_T, BLOCK_C=BLOCK_C, num_warps=NUM_WARPS)
    chunk = min(MAX_CHUNK, _next_pow2(length))
    block_d = max(1, min(_next_pow2(d_inner), TILE_PER_WARP * NUM_WARPS // (chunk * k["STATE"])))
    scale = 1.0 / paths if block.aggregation == "mean" else 1.0
    kernels.scan_gate_kernel[(batch, _cdiv(d_inner, block_d), paths)](
        xc, dbl, delta, k["A2"], k["D"], z, *z.stride(), y, *y.stride(),
        batch, length, d_inner, prefix, alternate, ssm.dt_rank, ssm.d_state, scale,
        PROJ=k["proj"], STATE=k["STATE"], CHUNK=chunk, BLOCK_D=block_d, num_warps=NUM_WARPS)
    return y


def block_forward(block, x, residual=None, norm=None):
    """block(norm(x)) (+ residual) for x (batch, length, d_model), the block's own layout; norm: a LayerNorm or
    None."""
    batch, length, _ = x.shape
    d_inner, paths = block.d_inner, block.ssm.paths
    if norm is not None and fuse_norms and block.in_proj.bias is None and norm.weight is not None:
        xz = norm_linear(norm, block.in_proj.weight, x.contiguous())  # (batch, length, 2 * d_inner)
    else:
        if norm is not None:
            x = F.layer_norm(x, norm.normalized_shape, norm.weight, norm.bias, norm.eps)
        xz = F.linear(x, block.in_proj.weight, block.in_proj.bias)
    k = _constants(block)
    y = ssm_gate(block, k, xz[..., :d_inner], xz[..., d_inner:], x.new_empty(batch, length, paths * d_inner))
    out_w, bias = k["out_w"], block.out_proj.bias
    if residual is None:
        return F.linear(y, out_w, bias)
    addend = residual.reshape(batch * length, -1)
    if bias is not None:
        addend = addend + bias
    return torch.addmm(addend, y.view(batch * length, -1), out_w.t()).view(residual.shape)


def level_htm(norm, block, x):
    """x + block(norm(x)), x (batch, tokens, d): HTM's half of a level."""
    return block_forward(block, x, residual=x, norm=norm)


def level_bsm(norm, block, x):
    """x + block(norm(x) with the d channels as the sequence and the tokens as features), x (batch, n, d).

    The block's features are its `tokens` slots; the n <= tokens real ones are used, the rest are zero, which its
    bias-free in_proj ignores: in_proj's first n columns and out_proj's first n rows are all that take part."""
    batch, n, d = x.shape
    d_inner, paths = block.d_inner, block.ssm.paths
    if block.in_proj.bias is not None or block.out_proj.bias is not None:
        raise ValueError("the fused BSM path needs bias-free projections")
    h = F.layer_norm(x, norm.normalized_shape, norm.weight, norm.bias, norm.eps)  # (batch, n, d)
    w_in = block.in_proj.weight[:, :n]  # (2 * d_inner, n)
    xz = torch.bmm(w_in.expand(batch, -1, -1), h)  # (batch, 2 * d_inner, d): channels first, the sequence last
    y = x.new_empty(batch, paths * d_inner, d)
    k = _constants(block)
    ssm_gate(block, k, xz[:, :d_inner].transpose(1, 2), xz[:, d_inner:].transpose(1, 2), y.transpose(1, 2))
    w_out = k["out_w"][:n]  # (n, paths * d_inner)
    return torch.baddbmm(x, w_out.expand(batch, -1, -1), y)  # (batch, n, d)
