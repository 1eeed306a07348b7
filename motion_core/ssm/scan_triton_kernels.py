"""Triton kernels of the `triton` scan backend (see scan_triton.py for the design and the Python side).

This module imports triton at the top; scan_triton.py imports it only when a kernel is first launched.
"""

import triton
import triton.language as tl


@triton.jit
def _combine(a_left, b_left, a_right, b_right):
    # (a, b) pairs compose h -> a * h + b; left is earlier in time.
    return a_left * a_right, b_left * a_right + b_right

@triton.jit
def _softplus(x):
    # torch's softplus with threshold 20; exp(x) directly where 1 + exp(x) would round to 1
    return tl.where(x > 20.0, x, tl.where(x < -15.0, tl.exp(x), tl.log(1.0 + tl.exp(x))))

@triton.jit
def _load_delta(delta_ptrs, mask, bias, HAS_BIAS: tl.constexpr, SOFTPLUS: tl.constexpr):
    """Step sizes for a (CHUNK, BLOCK_D) tile: 0 outside the sequence, so padded steps keep the state."""
    dt = tl.load(delta_ptrs, mask=mask, other=0.0).to(tl.float32)
    if HAS_BIAS:
        dt = dt + bias[None, :]
    if SOFTPLUS:
        dt = _softplus(dt)
    return tl.where(mask, dt, 0.0)

# Register tiles are (CHUNK, STATE, BLOCK_D): Triton spreads the fastest axis (channels) over lanes first, then
# states, and keeps time inside each thread, so the scan over time is a sequential in-register loop (no
# shuffles) and the contraction over states is mostly in-thread. BLOCK_D picks how many lanes share a channel.

@triton.jit
def fwd_kernel(
    u_ptr, delta_ptr, A_ptr, B_ptr, C_ptr, D_ptr, z_ptr, bias_ptr, out_ptr, last_ptr, saved_ptr,
    channels, length, channels_per_group, state, n_chunks,
    s_u_b, s_u_d, s_u_l, s_dt_b, s_dt_d, s_dt_l, s_z_b, s_z_d, s_z_l,
    s_B_b, s_B_g, s_B_n, s_B_l, s_C_b, s_C_g, s_C_n, s_C_l, s_A_d, s_A_n,
    BLOCK_D: tl.constexpr, STATE: tl.constexpr, CHUNK: tl.constexpr,
    HAS_D: tl.constexpr, HAS_Z: tl.constexpr, HAS_BIAS: tl.constexpr, SOFTPLUS: tl.constexpr,
    SAVE_STATES: tl.constexpr, STORE_LAST: tl.constexpr,
):
    pid_d = tl.program_id(0)
    b = tl.program_id(1).to(tl.int64)
    offs_d = pid_d * BLOCK_D + tl.arange(0, BLOCK_D)
    offs_n = tl.arange(0, STATE)
    offs_c = tl.arange(0, CHUNK)
    mask_d = offs_d < channels
    mask_n = offs_n < state
    group = (pid_d * BLOCK_D) // channels_per_group

    # A in log2 units so each decay is one exp2; padded states get A = 0 and B = C = 0, so they stay zero.
    A2 = tl.load(A_ptr + offs_n[:, None] * s_A_n + offs_d[None, :] * s_A_d,
                 mask=mask_n[:, None] & mask_d[None, :], other=0.0).to(tl.float32) * 1.4426950408889634
    bias = tl.zeros([BLOCK_D], dtype=tl.float32)
    if HAS_BIAS:
        bias = tl.load(bias_ptr + offs_d, mask=mask_d, other=0.0).to(tl.float32)
    Dvec = tl.zeros([BLOCK_D], dtype=tl.float32)
    if HAS_D:
        Dvec = tl.load(D_ptr + offs_d, mask=mask_d, other=0.0).to(tl.float32)

    u_base = u_ptr + b * s_u_b + offs_d[None, :] * s_u_d
    dt_base = delta_ptr + b * s_dt_b + offs_d[None, :] * s_dt_d
    z_base = z_ptr + b * s_z_b + offs_d[None, :] * s_z_d
    out_base = out_ptr + b * channels * length + offs_d[None, :] * length
    B_base = B_ptr + b * s_B_b + group * s_B_g + offs_n[None, :] * s_B_n
    C_base = C_ptr + b * s_C_b + group * s_C_g + offs_n[None, :] * s_C_n
    saved_base = saved_ptr + (b * channels + offs_d[None, :]) * n_chunks * STATE + offs_n[:, None]

    h = tl.zeros([STATE, BLOCK_D], dtype=tl.float32)
    for chunk in range(0, n_chunks):
        if SAVE_STATES:  # the state entering this chunk, for the backward pass
            tl.store(saved_base + chunk * STATE, h, mask=mask_d[None, :])
        offs_t = chunk * CHUNK + offs_c
        mask_t = offs_t < length
        mask_td = mask_t[:, None] & mask_d[None, :]
        mask_tn = mask_t[:, None] & mask_n[None, :]
        u = tl.load(u_base + offs_t[:, None] * s_u_l, mask=mask_td, other=0.0).to(tl.float32)
        dt = _load_delta(dt_base + offs_t[:, None] * s_dt_l, mask_td, bias, HAS_BIAS, SOFTPLUS)
        Bt = tl.load(B_base + offs_t[:, None] * s_B_l, mask=mask_tn, other=0.0).to(tl.float32)
        Ct = tl.load(C_base + offs_t[:, None] * s_C_l, mask=mask_tn, other=0.0).to(tl.float32)

        decay = tl.exp2(dt[:, None, :] * A2[None, :, :])  # (CHUNK, STATE, BLOCK_D)
        inject = (dt * u)[:, None, :] * Bt[:, :, None]
        decay, inject = tl.associative_scan((decay, inject), axis=0, combine_fn=_combine)
        hs = inject + decay * h[None, :, :]  # the state after every step of the chunk
        y = tl.sum(hs * Ct[:, :, None], axis=1)  # (CHUNK, BLOCK_D)
        # carry the state after the chunk's last step (padded steps left it unchanged)
        h = tl.sum(tl.where(offs_c[:, None, None] == CHUNK - 1, hs, 0.0), axis=0)

        if HAS_D:
            y += Dvec[None, :] * u
        if HAS_Z:
            zt = tl.load(z_base + offs_t[:, None] * s_z_l, mask=mask_td, other=0.0).to(tl.float32)
            y = y * zt * tl.sigmoid(zt)
        tl.store(out_base + offs_t[:, None], y.to(out_ptr.dtype.element_ty), mask=mask_td)

    if STORE_LAST:
        last_ptrs = last_ptr + (b * channels + offs_d[None, :]) * STATE + offs_n[:, None]
        tl.store(last_ptrs, h, mask=mask_d[None, :])

@triton.jit
def bwd_kernel(
    u_ptr, delta_ptr, A_ptr, B_ptr, C_ptr, D_ptr, z_ptr, bias_ptr, dout_ptr, saved_ptr,
    du_ptr, ddelta_ptr, dz_ptr, dB_ptr, dC_ptr, dA_ptr, dD_ptr, dbias_ptr,
    channels, length, channels_per_group, state, n_chunks, groups,
    s_u_b, s_u_d, s_u_l, s_dt_b, s_dt_d, s_dt_l, s_z_b, s_z_d, s_z_l,
    s_B_b, s_B_g, s_B_n, s_B_l, s_C_b, s_C_g, s_C_n, s_C_l, s_A_d, s_A_n,
    s_do_b, s_do_d, s_do_l,
    BLOCK_D: tl.constexpr, STATE: tl.constexpr, CHUNK: tl.constexpr,
    HAS_D: tl.constexpr, HAS_Z: tl.constexpr, HAS_BIAS: tl.constexpr, SOFTPLUS: tl.constexpr,
):
    pid_d = tl.program_id(0)
    b = tl.program_id(1).to(tl.int64)
    offs_d = pid_d * BLOCK_D + tl.arange(0, BLOCK_D)
    offs_n = tl.arange(0, STATE)
    offs_c = tl.arange(0, CHUNK)
    mask_d = offs_d < channels
    mask_n = offs_n < state
    group = (pid_d * BLOCK_D) // channels_per_group

    A = tl.load(A_ptr + offs_n[:, None] * s_A_n + offs_d[None, :] * s_A_d,
                mask=mask_n[:, None] & mask_d[None, :], other=0.0).to(tl.float32)
    A2 = A * 1.4426950408889634
    bias = tl.zeros([BLOCK_D], dtype=tl.float32)
    if HAS_BIAS:
        bias = tl.load(bias_ptr + offs_d, mask=mask_d, other=0.0).to(tl.float32)
    Dvec = tl.zeros([BLOCK_D], dtype=tl.float32)
    if HAS_D:
        Dvec = tl.load(D_ptr + offs_d, mask=mask_d, other=0.0).to(tl.float32)

    u_base = u_ptr + b * s_u_b + offs_d[None, :] * s_u_d
    dt_base = delta_ptr + b * s_dt_b + offs_d[None, :] * s_dt_d
    z_base = z_ptr + b * s_z_b + offs_d[None, :] * s_z_d
    do_base = dout_ptr + b * s_do_b + offs_d[None, :] * s_do_d
    grad_base = b * channels * length + offs_d[None, :] * length  # du, ddelta, dz: dense (B, D, L)
    B_base = B_ptr + b * s_B_b + group * s_B_g + offs_n[None, :] * s_B_n
    C_base = C_ptr + b * s_C_b + group * s_C_g + offs_n[None, :] * s_C_n
    dBC_base = ((b * groups + group) * state + offs_n[None, :]) * length  # dB, dC: dense fp32 (B, G, N, L)
    saved_base = saved_ptr + (b * channels + offs_d[None, :]) * n_chunks * STATE + offs_n[:, None]

    g_next = tl.zeros([STATE, BLOCK_D], dtype=tl.float32)  # adjoint state at the step after the chunk
    dA_acc = tl.zeros([STATE, BLOCK_D], dtype=tl.float32)
    dD_acc = tl.zeros([BLOCK_D], dtype=tl.float32)
    dbias_acc = tl.zeros([BLOCK_D], dtype=tl.float32)
    for step in range(0, n_chunks):
        chunk = n_chunks - 1 - step
        offs_t = chunk * CHUNK + offs_c
        mask_t = offs_t < length
        mask_td = mask_t[:, None] & mask_d[None, :]
        mask_tn = mask_t[:, None] & mask_n[None, :]
        u = tl.load(u_base + offs_t[:, None] * s_u_l, mask=mask_td, other=0.0).to(tl.float32)
        dt_raw = tl.load(dt_base + offs_t[:, None] * s_dt_l, mask=mask_td, other=0.0).to(tl.float32)
        if HAS_BIAS:
            dt_raw = dt_raw + bias[None, :]
        dt = dt_raw
        if SOFTPLUS:
            dt = _softplus(dt_raw)
        dt = tl.where(mask_td, dt, 0.0)
        # a[t+1], the decay that carries g[t+1] back to step t (past the end g is 0, so any value works)
        offs_next = offs_t + 1
        mask_next = (offs_next < length)[:, None] & mask_d[None, :]
        dt_next = _load_delta(dt_base + offs_next[:, None] * s_dt_l, mask_next, bias, HAS_BIAS, SOFTPLUS)
        Bt = tl.load(B_base + offs_t[:, None] * s_B_l, mask=mask_tn, other=0.0).to(tl.float32)
        Ct = tl.load(C_base + offs_t[:, None] * s_C_l, mask=mask_tn, other=0.0).to(tl.float32)
        dout = tl.load(do_base + offs_t[:, None] * s_do_l, mask=mask_td, other=0.0).to(tl.float32)

        # recompute this chunk's states from the state the forward saved at its start
        h0 = tl.load(saved_base + chunk * STATE, mask=mask_d[None, :], other=0.0)
        decay = tl.exp2(dt[:, None, :] * A2[None, :, :])  # (CHUNK, STATE, BLOCK_D)
        inject = (dt * u)[:, None, :] * Bt[:, :, None]
        cum_decay, cum_inject = tl.associative_scan((decay, inject), axis=0, combine_fn=_combine)
        hs = cum_inject + cum_decay * h0[None, :, :]

        dy = dout
        if HAS_Z:
            zt = tl.load(z_base + offs_t[:, None] * s_z_l, mask=mask_td, other=0.0).to(tl.float32)
            y = tl.sum(hs * Ct[:, :, None], axis=1)
            if HAS_D:
                y += Dvec[None, :] * u
            sig = tl.sigmoid(zt)
            dy = dout * zt * sig
            dz = dout * y * sig * (1.0 + zt * (1.0 - sig))
            tl.store(dz_ptr + grad_base + offs_t[:, None], dz.to(dz_ptr.dtype.element_ty), mask=mask_td)

        # adjoint: g[t] = dy[t] * C[t] + a[t+1] * g[t+1], a reverse scan inside the chunk plus the carry
        decay_next = tl.exp2(dt_next[:, None, :] * A2[None, :, :])
        source = dy[:, None, :] * Ct[:, :, None]
        rev_decay, rev_source = tl.associative_scan((decay_next, source), axis=0, combine_fn=_combine,
                                                    reverse=True)
        gs = rev_source + rev_decay * g_next[None, :, :]
        g_next = tl.sum(tl.where(offs_c[:, None, None] == 0, gs, 0.0), axis=0)

        # h[t] - inject[t] = a[t] * h[t-1]: the decay's share, without dividing by a possibly tiny a[t]
        decay_term = gs * (hs - inject)  # d loss / d (delta * A) per state
        gB = tl.sum(gs * Bt[:, :, None], axis=1)  # (CHUNK, BLOCK_D)
        ddt = gB * u + tl.sum(decay_term * A[None, :, :], axis=1)
        du = gB * dt + dy * Dvec[None, :]
        dA_acc += tl.sum(decay_term * dt[:, None, :], axis=0)
        dB_part = tl.sum(gs * (dt * u)[:, None, :], axis=2)  # (CHUNK, STATE), summed over this block
        dC_part = tl.sum(hs * dy[:, None, :], axis=2)
        tl.atomic_add(dB_ptr + dBC_base + offs_t[:, None], dB_part, mask=mask_tn)
        tl.atomic_add(dC_ptr + dBC_base + offs_t[:, None], dC_part, mask=mask_tn)
        if HAS_D:
            dD_acc += tl.sum(dy * u, axis=0)
        if SOFTPLUS:
            ddt = ddt * tl.sigmoid(dt_raw)
        ddt = tl.where(mask_td, ddt, 0.0)
        if HAS_BIAS:
            dbias_acc += tl.sum(ddt, axis=0)
        tl.store(du_ptr + grad_base + offs_t[:, None], du.to(du_ptr.dtype.element_ty), mask=mask_td)
        tl.store(ddelta_ptr + grad_base + offs_t[:, None], ddt.to(ddelta_ptr.dtype.element_ty), mask=mask_td)

    part = b * channels + offs_d  # per-batch partial sums, reduced over the batch by the caller
    tl.store(dA_ptr + part[None, :] * STATE + offs_n[:, None], dA_acc, mask=mask_d[None, :])
    tl.store(dD_ptr + part, dD_acc, mask=mask_d)
    tl.store(dbias_ptr + part, dbias_acc, mask=mask_d)
