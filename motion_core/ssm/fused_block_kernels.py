"""Triton kernels of the fused inference path of an SSM block (see fused_block.py for the design and the Python side).

This module imports triton at the top; fused_block.py imports it only when a kernel is first launched.
"""

import triton
import triton.language as tl

# the scan backend's step composition ((a, b): h -> a * h + b, left earlier in scan order) and torch-exact softplus
from motion_core.ssm.scan_triton_kernels import _combine, _softplus


@triton.jit
def _source_row(scan_pos, reversed_path, prefix, length):
    """The sequence row a path reads at scan position scan_pos: rows from `prefix` on are read backwards."""
    return tl.where(reversed_path & (scan_pos >= prefix), prefix + length - 1 - scan_pos, scan_pos)


@triton.jit
def conv_proj_kernel(
    x_ptr, s_x_b, s_x_t, s_x_c,
    conv_w_ptr, conv_b_ptr, x_proj_ptr, dt_proj_ptr, dt_bias_ptr,
    xc_ptr, s_xc_t, s_xc_c, dbl_ptr, delta_ptr,
    batch, length, d_inner, prefix, alternate, split_span,
    TAPS: tl.constexpr, PROJ: tl.constexpr, BLOCK_T: tl.constexpr, BLOCK_C: tl.constexpr,
    DT_IN_SCAN: tl.constexpr, PRECISION: tl.constexpr,
):
    """One path, one batch row, BLOCK_T rows, the channels of one split: causal depthwise conv (in the path's scan
    order) + silu, and those channels' share of x_proj (-> dt_low | B | C, PROJ wide). Without DT_IN_SCAN (one
    split only) also dt_proj + bias + softplus -> delta.

    Grid (paths * batch, row blocks, splits); split s covers channels [s * split_span, (s + 1) * split_span).
    x: (batch, length, d_inner) through strides.  conv_w (paths, TAPS, d_inner), conv_b (paths, d_inner),
    x_proj (paths, d_inner, PROJ) with zero columns past dt_rank + 2 * state, dt_proj (paths, PROJ, d_inner) with
    zero rows past dt_rank (so B and C in the same tile add nothing), dt_bias (paths, d_inner).
    Out, in sequence order: xc and delta (paths, batch) blocks of length * d_inner, rows and channels by
    (s_xc_t, s_xc_c); dbl (splits, paths, batch, length, PROJ), each split's partial sum.
    """
    pb = tl.program_id(0)  # path * batch + batch row
    path = pb // batch
    b = pb % batch
    offs_t = tl.program_id(1) * BLOCK_T + tl.arange(0, BLOCK_T)
    split = tl.program_id(2)
    offs_p = tl.arange(0, PROJ)
    mask_t = offs_t < length
    reversed_path = (alternate != 0) & (path % 2 == 1)
    # scan position of each row (the source-row map is its own inverse)
    scan_pos = _source_row(offs_t, reversed_path, prefix, length)
    xc_rows = xc_ptr + pb * length * d_inner + offs_t[:, None] * s_xc_t
    dbl_rows = dbl_ptr + ((split * tl.num_programs(0) + pb) * length + offs_t[:, None]) * PROJ

    dbl = tl.zeros([BLOCK_T, PROJ], dtype=tl.float32)
    c_end = tl.minimum(d_inner, (split + 1) * split_span)
    for c0 in range(split * split_span, c_end, BLOCK_C):
        offs_c = c0 + tl.arange(0, BLOCK_C)
        mask_c = offs_c < c_end
        acc = tl.zeros([BLOCK_T, BLOCK_C], dtype=tl.float32)
        acc += tl.load(conv_b_ptr + path * d_inner + offs_c, mask=mask_c, other=0.0)[None, :]
        for j in tl.static_range(TAPS):
            tap_pos = scan_pos - (TAPS - 1 - j)  # tap j reads TAPS-1-j steps back in scan order
            src = _source_row(tap_pos, reversed_path, prefix, length)
            ok = mask_t & (tap_pos >= 0)
            v = tl.load(x_ptr + b * s_x_b + src[:, None] * s_x_t + offs_c[None, :] * s_x_c,
                        mask=ok[:, None] & mask_c[None, :], other=0.0).to(tl.float32)
            w = tl.load(conv_w_ptr + (path * TAPS + j) * d_inner + offs_c, mask=mask_c, other=0.0)
            acc += v * w[None, :]
        xc = acc * tl.sigmoid(acc)
        xc = tl.where(mask_t[:, None] & mask_c[None, :], xc, 0.0)
        tl.store(xc_rows + offs_c[None, :] * s_xc_c, xc, mask=mask_t[:, None] & mask_c[None, :])
        w_x = tl.load(x_proj_ptr + (path * d_inner + offs_c[:, None]) * PROJ + offs_p[None, :],
                      mask=mask_c[:, None], other=0.0)
        if BLOCK_T >= 16:  # tl.dot's smallest tile
            dbl += tl.dot(xc, w_x, input_precision=PRECISION)
        else:  # a few rows: the product in registers, so that short row blocks give many programs
            dbl += tl.sum(xc[:, :, None] * w_x[None, :, :], axis=1)
    tl.store(dbl_rows + offs_p[None, :], dbl, mask=mask_t[:, None])

    if not DT_IN_SCAN:
        for c0 in range(0, d_inner, BLOCK_C):
            offs_c = c0 + tl.arange(0, BLOCK_C)
            mask_c = offs_c < d_inner
            w_dt = tl.load(dt_proj_ptr + (path * PROJ + offs_p[:, None]) * d_inner + offs_c[None, :],
                           mask=mask_c[None, :], other=0.0)
            bias = tl.load(dt_bias_ptr + path * d_inner + offs_c, mask=mask_c, other=0.0)
            dt = _softplus(tl.dot(dbl, w_dt, input_precision=PRECISION) + bias[None, :])
            tl.store(delta_ptr + pb * length * d_inner + offs_t[:, None] * s_xc_t + offs_c[None, :] * s_xc_c, dt,
                     mask=mask_t[:, None] & mask_c[None, :])


@triton.jit
def _split_sum(ptrs, mask, split_stride, SPLITS: tl.constexpr):
    """The sum over the conv_proj splits of a partial-sum tile (split s at ptrs + s * split_stride); unrolled, so
    that all the loads are in flight together."""
    total = tl.load(ptrs, mask=mask, other=0.0)
    for s in tl.static_range(1, SPLITS):
        total += tl.load(ptrs + s * split_stride, mask=mask, other=0.0)
    return total


@triton.jit
def _scan_pass(h, xc_base, s_xc_t, s_xc_c, dbl_base, split_stride, delta_base, z_base, s_z_t, y_base, s_y_t, A2,
               Dvec, scale, offs_d, mask_d, offs_n, start, step, count, dt_rank, state,
               PROJ: tl.constexpr, CHUNK: tl.constexpr, SPLITS: tl.constexpr):
    """Scan `count` rows from row `start`, moving by `step` (+1 or -1), from state h; store
    (y + D * u) * scale * silu(z) in those rows. Returns the state after the last row."""
    offs_c = tl.arange(0, CHUNK)
    mask_n = offs_n < state
    for k in range(0, tl.cdiv(count, CHUNK)):
        pos = k * CHUNK + offs_c
        valid = pos < count
        rows = start + step * pos
        mask_td = valid[:, None] & mask_d[None, :]
        mask_tn = valid[:, None] & mask_n[None, :]
        u = tl.load(xc_base + rows[:, None] * s_xc_t + offs_d[None, :] * s_xc_c, mask=mask_td, other=0.0)
        # rows past `count` have dt = 0: decay 1, input 0, so they keep the state
        dt = tl.load(delta_base + rows[:, None] * s_xc_t + offs_d[None, :] * s_xc_c, mask=mask_td, other=0.0)
        Bt = _split_sum(dbl_base + rows[:, None] * PROJ + dt_rank + offs_n[None, :], mask_tn, split_stride, SPLITS)
        Ct = _split_sum(dbl_base + rows[:, None] * PROJ + dt_rank + state + offs_n[None, :], mask_tn, split_stride,
                        SPLITS)
        z = tl.load(z_base + rows[:, None] * s_z_t, mask=mask_td, other=0.0).to(tl.float32)
        decay = tl.exp2(dt[:, None, :] * A2[None, :, :])  # (CHUNK, STATE, BLOCK_D)
        inject = (dt * u)[:, None, :] * Bt[:, :, None]
        decay, inject = tl.associative_scan((decay, inject), axis=0, combine_fn=_combine)
        hs = inject + decay * h[None, :, :]
        h = tl.sum(tl.where(offs_c[:, None, None] == CHUNK - 1, hs, 0.0), axis=0)
        y = tl.sum(hs * Ct[:, :, None], axis=1) + Dvec[None, :] * u  # (CHUNK, BLOCK_D)
        tl.store(y_base + rows[:, None] * s_y_t, y * scale * (z * tl.sigmoid(z)), mask=mask_td)
    return h


@triton.jit
def scan_gate_kernel(
    xc_ptr, s_xc_t, s_xc_c, dbl_ptr, delta_ptr, dt_proj_ptr, dt_bias_ptr, A2_ptr, D_ptr,
    z_ptr, s_z_b, s_z_t, s_z_c,
    y_ptr, s_y_b, s_y_t, s_y_c,
    batch, length, d_inner, prefix, alternate, dt_rank, state, scale,
    PROJ: tl.constexpr, RANK: tl.constexpr, STATE: tl.constexpr, CHUNK: tl.constexpr, BLOCK_D: tl.constexpr,
    SPLITS: tl.constexpr, DT_IN_SCAN: tl.constexpr,
):
    """BLOCK_D channels of one path and one batch row: the path's selective scan (in its own scan order) with its D
    term, times `scale`, gated by silu(z), stored in sequence order as channels path * d_inner + c of
    y (batch, length, paths * d_inner) (by strides). The gate is linear in y, so gating each path and summing them
    afterwards (out_proj's GEMM does, over its paths-times-repeated weight) equals gating the sum.

    With DT_IN_SCAN, first dt_proj + bias + softplus from the summed splits of dbl, for these channels and every
    row, into delta: it has no serial dependence, so it runs apart from the scan (which then reads delta back as
    when conv_proj wrote it; kept apart, the two parts do not force each other's register layouts).

    Grid (channel blocks, paths * batch). xc, delta, dbl as conv_proj_kernel writes them; dt_proj (paths, PROJ,
    d_inner) (zero rows past dt_rank; RANK: dt_rank rounded up to a power of two), dt_bias (paths, d_inner),
    A2 (paths, STATE, d_inner) is A * log2(e) (zero past `state`); D (paths, d_inner).
    """
    offs_d = tl.program_id(0) * BLOCK_D + tl.arange(0, BLOCK_D)
    pb = tl.program_id(1)  # path * batch + batch row
    path = pb // batch
    b = pb % batch
    offs_n = tl.arange(0, STATE)
    mask_d = offs_d < d_inner
    xc_base = xc_ptr + pb * length * d_inner
    delta_base = delta_ptr + pb * length * d_inner
    dbl_base = dbl_ptr + pb * length * PROJ
    split_stride = tl.num_programs(1) * length * PROJ
    if DT_IN_SCAN:
        dt_bias = tl.load(dt_bias_ptr + path * d_inner + offs_d, mask=mask_d, other=0.0)
        offs_t = tl.arange(0, CHUNK)
        if BLOCK_D >= 16 and CHUNK >= 16:  # tl.dot's smallest tile; dt_proj's rows past dt_rank are zero
            offs_p = tl.arange(0, PROJ)
            w_dt = tl.load(dt_proj_ptr + (path * PROJ + offs_p[:, None]) * d_inner + offs_d[None, :],
                           mask=mask_d[None, :], other=0.0)  # (PROJ, BLOCK_D)
        else:
            offs_r = tl.arange(0, RANK)
            w_dt = tl.load(dt_proj_ptr + (path * PROJ + offs_r[:, None]) * d_inner + offs_d[None, :],
                           mask=(offs_r < dt_rank)[:, None] & mask_d[None, :], other=0.0)  # (RANK, BLOCK_D)
        for t0 in range(0, length, CHUNK):
            rows = t0 + offs_t
            valid = rows < length
            if BLOCK_D >= 16 and CHUNK >= 16:
                low = _split_sum(dbl_base + rows[:, None] * PROJ + offs_p[None, :], valid[:, None], split_stride,
                                 SPLITS)
                dt = tl.dot(low, w_dt, input_precision="ieee")
            else:  # a few channels: the product in registers
                low = _split_sum(dbl_base + rows[:, None] * PROJ + offs_r[None, :],
                                 valid[:, None] & (offs_r < dt_rank)[None, :], split_stride, SPLITS)
                dt = tl.sum(low[:, :, None] * w_dt[None, :, :], axis=1)
            tl.store(delta_base + rows[:, None] * s_xc_t + offs_d[None, :] * s_xc_c,
                     _softplus(dt + dt_bias[None, :]), mask=valid[:, None] & mask_d[None, :])
        tl.debug_barrier()  # the scan below reads rows that other threads of this program wrote
    reversed_path = (alternate != 0) & (path % 2 == 1)
    A2 = tl.load(A2_ptr + (path * STATE + offs_n[:, None]) * d_inner + offs_d[None, :],
                 mask=mask_d[None, :], other=0.0)
    Dvec = tl.load(D_ptr + path * d_inner + offs_d, mask=mask_d, other=0.0)
    z_base = z_ptr + b * s_z_b + offs_d[None, :] * s_z_c
    y_base = y_ptr + b * s_y_b + (path * d_inner + offs_d[None, :]) * s_y_c
    h = tl.zeros([STATE, BLOCK_D], dtype=tl.float32)
    forward_rows = tl.where(reversed_path, prefix, length)
    # forward: the whole sequence, or only the prefix a reversed path reads first
    h = _scan_pass(h, xc_base, s_xc_t, s_xc_c, dbl_base, split_stride, delta_base, z_base, s_z_t, y_base, s_y_t,
                   A2, Dvec, scale, offs_d, mask_d, offs_n, 0, 1, forward_rows, dt_rank, state, PROJ, CHUNK, SPLITS)
    if reversed_path:  # then the rest from the last row back
        h = _scan_pass(h, xc_base, s_xc_t, s_xc_c, dbl_base, split_stride, delta_base, z_base, s_z_t, y_base,
                       s_y_t, A2, Dvec, scale, offs_d, mask_d, offs_n, length - 1, -1, length - prefix, dt_rank,
                       state, PROJ, CHUNK, SPLITS)


@triton.jit
def norm_linear_kernel(x_ptr, gamma_ptr, beta_ptr, w_ptr, out_ptr, rows, K, N, eps,
                       BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr,
                       PRECISION: tl.constexpr):
    """out = LayerNorm(x) @ W^T for x (rows, K), W (N, K), out (rows, N), all contiguous: the norm is applied to
    each K-chunk as it is loaded for the product, from per-row statistics taken in two passes first."""
    offs_m = tl.program_id(0) * BLOCK_M + tl.arange(0, BLOCK_M)
    offs_n = tl.program_id(1) * BLOCK_N + tl.arange(0, BLOCK_N)
    mask_m = offs_m < rows
    mask_n = offs_n < N
    total = tl.zeros([BLOCK_M], dtype=tl.float32)
    for k0 in range(0, K, BLOCK_K):
        offs_k = k0 + tl.arange(0, BLOCK_K)
        xk = tl.load(x_ptr + offs_m[:, None] * K + offs_k[None, :], mask=mask_m[:, None] & (offs_k < K)[None, :],
                     other=0.0)
        total += tl.sum(xk, axis=1)
    mean = total / K
    spread = tl.zeros([BLOCK_M], dtype=tl.float32)
    for k0 in range(0, K, BLOCK_K):
        offs_k = k0 + tl.arange(0, BLOCK_K)
        mask = mask_m[:, None] & (offs_k < K)[None, :]
        xk = tl.load(x_ptr + offs_m[:, None] * K + offs_k[None, :], mask=mask, other=0.0)
        centred = tl.where(mask, xk - mean[:, None], 0.0)
        spread += tl.sum(centred * centred, axis=1)
    rstd = 1.0 / tl.sqrt(spread / K + eps)
    acc = tl.zeros([BLOCK_M, BLOCK_N], dtype=tl.float32)
    for k0 in range(0, K, BLOCK_K):
        offs_k = k0 + tl.arange(0, BLOCK_K)
        mask_k = offs_k < K
        xk = tl.load(x_ptr + offs_m[:, None] * K + offs_k[None, :], mask=mask_m[:, None] & mask_k[None, :],
                     other=0.0)
        gamma = tl.load(gamma_ptr + offs_k, mask=mask_k, other=0.0)
        beta = tl.load(beta_ptr + offs_k, mask=mask_k, other=0.0)
        xn = (xk - mean[:, None]) * rstd[:, None] * gamma[None, :] + beta[None, :]
        w = tl.load(w_ptr + offs_n[None, :] * K + offs_k[:, None], mask=mask_k[:, None] & mask_n[None, :], other=0.0)
        acc += tl.dot(xn, w, input_precision=PRECISION)
    tl.store(out_ptr + offs_m[:, None] * N + offs_n[None, :], acc, mask=mask_m[:, None] & mask_n[None, :])
