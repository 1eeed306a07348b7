"""Selective scan on CPU: the reference against hand-computed steps, chunked and blocked against reference, gradients,
backend choice. Tolerances: float64 parity 1e-10 (only rounding differs), float32 parity rtol 1e-5 / atol 1e-5."""

import logging
import math

import pytest
import torch

from motion_core.errors import MotionError
from motion_core.ssm import backends, selective_scan
from motion_core.ssm.scan_blocked import LOG2E, scan_inference, scan_time_major, selective_scan_blocked
from motion_core.ssm.scan_chunked import selective_scan_chunked


def make_inputs(batch=2, channels=4, length=9, state=3, groups=1, dtype=torch.float64, seed=0, z=True,
                delta_bias=True, D=True):
    g = torch.Generator().manual_seed(seed)

    def randn(*shape):
        return torch.randn(*shape, generator=g, dtype=dtype)

    return dict(
        u=randn(batch, channels, length),
        delta=torch.rand(batch, channels, length, generator=g, dtype=dtype) * 0.5,
        A=-torch.rand(channels, state, generator=g, dtype=dtype) * 2,
        B=randn(batch, groups, state, length),
        C=randn(batch, groups, state, length),
        D=randn(channels) if D else None,
        z=randn(batch, channels, length) if z else None,
        delta_bias=randn(channels) if delta_bias else None,
    )


def test_reference_matches_two_hand_computed_steps():
    # one channel, one state: h0 = dt0*B0*u0, h1 = exp(dt1*A)*h0 + dt1*B1*u1, y = C*h + D*u
    u = torch.tensor([[[2.0, -1.0]]], dtype=torch.float64)
    delta = torch.tensor([[[0.5, 0.25]]], dtype=torch.float64)
    A = torch.tensor([[-2.0]], dtype=torch.float64)
    B = torch.tensor([[[[3.0, 4.0]]]], dtype=torch.float64)
    C = torch.tensor([[[[0.5, -1.0]]]], dtype=torch.float64)
    D = torch.tensor([0.1], dtype=torch.float64)
    h0 = 0.5 * 3.0 * 2.0
    h1 = math.exp(0.25 * -2.0) * h0 + 0.25 * 4.0 * -1.0
    expected = torch.tensor([0.5 * h0 + 0.1 * 2.0, -1.0 * h1 + 0.1 * -1.0], dtype=torch.float64).view(1, 1, 2)
    out, last = selective_scan(u, delta, A, B, C, D=D, return_last_state=True, backend="ref")
    torch.testing.assert_close(out, expected)
    torch.testing.assert_close(last, torch.full((1, 1, 1), h1, dtype=torch.float64))


def test_reference_gate_softplus_and_bias():
    x = make_inputs(length=3, z=True, delta_bias=True)
    plain = selective_scan(x["u"], torch.nn.functional.softplus(x["delta"] + x["delta_bias"][:, None]), x["A"],
                           x["B"], x["C"], D=x["D"], backend="ref")
    gated = selective_scan(**x, delta_softplus=True, backend="ref")
    torch.testing.assert_close(gated, plain * torch.nn.functional.silu(x["z"]))


@pytest.mark.parametrize("length", [1, 2, 4, 7, 33, 256])
@pytest.mark.parametrize("groups", [1, 2])
def test_chunked_matches_reference_float64(length, groups):
    x = make_inputs(length=length, groups=groups, seed=length)
    ref, ref_last = selective_scan(**x, delta_softplus=True, return_last_state=True, backend="ref")
    out, last = selective_scan(**x, delta_softplus=True, return_last_state=True, backend="chunked")
    torch.testing.assert_close(out, ref, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(last, ref_last, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("chunk", [1, 3, 8, 64])
def test_chunked_any_chunk_size(chunk):
    x = make_inputs(length=21, groups=2, channels=6)
    ref = selective_scan(**x, backend="ref")
    torch.testing.assert_close(selective_scan_chunked(**x, chunk=chunk), ref, rtol=1e-10, atol=1e-10)


def test_chunked_matches_reference_float32():
    x = make_inputs(channels=16, length=100, state=16, groups=4, dtype=torch.float32, seed=3)
    ref = selective_scan(**{k: v.double() if v is not None else None for k, v in x.items()}, delta_softplus=True,
                         backend="ref")
    out = selective_scan(**x, delta_softplus=True, backend="chunked")
    assert out.dtype == torch.float32
    torch.testing.assert_close(out.double(), ref, rtol=1e-5, atol=1e-5)


def test_chunked_stays_finite_with_huge_decay():
    # sum |delta * A| over the sequence ~ 1e5: exp(-cumsum) formulations overflow here
    x = make_inputs(channels=4, length=128, state=4, dtype=torch.float32, seed=5, z=False)
    x["delta"] = x["delta"] * 100 + 40
    x["A"] = x["A"] * 8 - 1
    ref = selective_scan(**x, backend="ref")
    out = selective_scan(**x, backend="chunked")
    assert torch.isfinite(out).all()
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-4)


def test_bc_layouts_are_equivalent():
    x = make_inputs(length=6, groups=1)
    four_d = selective_scan(**x, backend="ref")
    three_d = selective_scan(**{**x, "B": x["B"][:, 0], "C": x["C"][:, 0]}, backend="ref")
    torch.testing.assert_close(three_d, four_d)
    # constant (channels, state) B/C = a per-channel group broadcast over batch and time
    Bc, Cc = torch.randn(4, 3, dtype=torch.float64), torch.randn(4, 3, dtype=torch.float64)
    constant = selective_scan(**{**x, "B": Bc, "C": Cc}, backend="chunked")
    expanded = selective_scan(**{**x, "B": Bc[None, :, :, None].expand(2, 4, 3, 6),
                                 "C": Cc[None, :, :, None].expand(2, 4, 3, 6)}, backend="ref")
    torch.testing.assert_close(constant, expanded)


def test_groups_map_contiguous_channel_blocks():
    # with 2 groups, channels 0-1 read group 0 and channels 2-3 group 1: same as two separate scans
    x = make_inputs(channels=4, groups=2, length=5)
    both = selective_scan(**x, backend="chunked")
    for g in range(2):
        part = slice(2 * g, 2 * g + 2)
        alone = selective_scan(x["u"][:, part], x["delta"][:, part], x["A"][part], x["B"][:, g:g + 1],
                               x["C"][:, g:g + 1], D=x["D"][part], z=x["z"][:, part],
                               delta_bias=x["delta_bias"][part], backend="ref")
        torch.testing.assert_close(both[:, part], alone, rtol=1e-10, atol=1e-10)


def test_chunked_gradients_match_reference():
    x = make_inputs(length=19, groups=2)
    grads = {}
    for backend in ("ref", "chunked"):
        leaves = {k: v.clone().requires_grad_(True) for k, v in x.items()}
        out = selective_scan(**leaves, delta_softplus=True, backend=backend)
        weights = torch.linspace(-1, 1, out.numel(), dtype=out.dtype).view_as(out)
        (out * weights).sum().backward()
        grads[backend] = {k: v.grad for k, v in leaves.items()}
    for name in x:
        torch.testing.assert_close(grads["chunked"][name], grads["ref"][name], rtol=1e-9, atol=1e-10,
                                   msg=lambda m, name=name: f"d{name}: {m}")


@pytest.mark.parametrize("backend", ["ref", "chunked"])
def test_gradcheck_tiny(backend):
    x = make_inputs(batch=1, channels=2, length=5, state=2, groups=2)
    names = list(x)

    def fn(*tensors):
        return selective_scan(**dict(zip(names, tensors)), delta_softplus=True, backend=backend)

    inputs = tuple(v.clone().requires_grad_(True) for v in x.values())
    assert torch.autograd.gradcheck(fn, inputs, eps=1e-6, atol=1e-7)


def test_float32_inputs_keep_their_dtype_and_state_is_float32():
    x = make_inputs(dtype=torch.float32, length=4)
    out, last = selective_scan(**x, return_last_state=True, backend="chunked")
    assert out.dtype == torch.float32 and last.dtype == torch.float32 and last.shape == (2, 4, 3)


def test_bad_shapes_raise_value_error():
    x = make_inputs(channels=4, groups=1)
    with pytest.raises(ValueError, match="divisible"):
        selective_scan(**{**x, "B": torch.randn(2, 3, 3, 9, dtype=torch.float64)}, backend="ref")
    with pytest.raises(ValueError, match="A of shape"):
        selective_scan(**{**x, "A": x["A"][:3]}, backend="ref")


# ---- blocked (the CPU default) -----------------------------------------------------------------------------

@pytest.mark.parametrize("length", [1, 2, 4, 7, 33, 256])
@pytest.mark.parametrize("groups", [1, 3])
def test_blocked_matches_reference_float64(length, groups):
    x = make_inputs(channels=6, length=length, groups=groups)
    ref, ref_last = selective_scan(**x, delta_softplus=True, return_last_state=True, backend="ref")
    with torch.inference_mode():  # the in-place path generation takes
        out, last = selective_scan(**x, delta_softplus=True, return_last_state=True, backend="blocked")
    torch.testing.assert_close(out, ref, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(last, ref_last, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("chunk", [1, 3, 5, 16, 40])
def test_blocked_any_chunk_size(chunk):
    x = make_inputs(length=37, groups=2)
    ref = selective_scan(**x, backend="ref")
    torch.testing.assert_close(selective_scan_blocked(**x, chunk=chunk), ref, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("shape", [(2, 4608, 4, 9), (2, 16, 256, 2)])  # Motion Mamba's HTM and BSM scans
def test_blocked_matches_reference_float32_at_model_shapes(shape):
    batch, channels, length, groups = shape
    x = make_inputs(batch=batch, channels=channels, length=length, state=16, groups=groups, dtype=torch.float32)
    x["A"] = x["A"] * 8  # S4D-real range, -16 .. 0
    ref = selective_scan(**x, delta_softplus=True, backend="ref")
    with torch.inference_mode():
        out = selective_scan(**x, delta_softplus=True, backend="blocked")
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-5)


def test_blocked_clamps_tiny_decays_without_changing_the_result():
    # delta * A far below -87 (exp's slow, denormal range): the state must simply be forgotten, as in the reference.
    x = make_inputs(length=40, groups=2, dtype=torch.float32)
    x["delta"] = x["delta"] + 30.0
    x["A"] = x["A"] * 8
    ref = selective_scan(**x, backend="ref")
    with torch.inference_mode():
        out = selective_scan(**x, backend="blocked")
    assert torch.isfinite(out).all()
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-5)


def test_blocked_gradients_match_reference():
    x = make_inputs(length=21, groups=2)
    grads = {}
    for backend in ("ref", "blocked"):
        leaves = {k: v.clone().requires_grad_(True) for k, v in x.items() if v is not None}
        out, last = selective_scan(**leaves, delta_softplus=True, return_last_state=True, backend=backend)
        (out.square().sum() + last.sum()).backward()
        grads[backend] = {k: v.grad for k, v in leaves.items()}
    for name, grad in grads["blocked"].items():
        torch.testing.assert_close(grad, grads["ref"][name], rtol=1e-9, atol=1e-10, msg=f"gradient of {name}")


# ---- the inference scan (CPU generation) against the blocked scan it replaces there ---------------------------

def time_major_inputs(groups, batch, length, channels, state, dtype, seed=0, shared_u=False, scale=1.0):
    """Inputs in scan_time_major's layout: dt, u (groups or 1, batch, length, channels), A (groups, state, channels),
    B, C (groups, batch, length, state); A in the S4D-real range -8 .. 0 (times `scale`)."""
    g = torch.Generator().manual_seed(seed)
    dt = torch.nn.functional.softplus(torch.randn(groups, batch, length, channels, generator=g, dtype=dtype) - 2)
    u = torch.randn(1 if shared_u else groups, batch, length, channels, generator=g, dtype=dtype)
    A = -torch.rand(groups, state, channels, generator=g, dtype=dtype) * 8 * scale
    B, C = (torch.randn(groups, batch, length, state, generator=g, dtype=dtype) for _ in range(2))
    return dt, u, A, B, C


@pytest.mark.parametrize("length", [1, 2, 7, 49, 256, 500])
@pytest.mark.parametrize("shape", [(5, 2, 512, 8), (2, 2, 102, 8), (2, 2, 8, 16)])  # HTM, BSM, paper BSM
def test_inference_scan_matches_blocked_scan_float32(length, shape):
    groups, batch, channels, state = shape
    if length == 500 and channels == 512:
        groups = 1  # keeps the test quick
    dt, u, A, B, C = time_major_inputs(groups, batch, length, channels, state, torch.float32, shared_u=groups == 5)
    ref, ref_last = scan_time_major(*(t.double() for t in (dt, u, A, B, C)))
    with torch.inference_mode():
        out, last = scan_inference(dt, u, A * LOG2E, B, C)
    scale = ref.abs().max()
    torch.testing.assert_close(out.double(), ref, rtol=1e-5, atol=1e-5 * scale)
    torch.testing.assert_close(last.double(), ref_last, rtol=1e-5, atol=1e-5 * ref_last.abs().max())


@pytest.mark.parametrize("chunk", [1, 2, 3, 8, 37, 40])
def test_inference_scan_any_block_size_float64(chunk):
    dt, u, A, B, C = time_major_inputs(3, 2, 37, 6, 4, torch.float64)
    ref, ref_last = scan_time_major(dt, u, A, B, C, chunk=1)
    out, last = scan_inference(dt, u, A * LOG2E, B, C, chunk=chunk)
    torch.testing.assert_close(out, ref, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(last, ref_last, rtol=1e-10, atol=1e-10)


def test_inference_scan_clamps_tiny_decays_and_reuses_its_buffers_safely():
    dt, u, A, B, C = time_major_inputs(2, 2, 300, 6, 4, torch.float32, scale=8)  # delta * A far below -87
    dt = dt + 30.0
    ref, _ = scan_time_major(dt, u, A, B, C)
    first, last = scan_inference(dt, u, A * LOG2E, B, C)
    kept = first.clone(), last.clone()
    scan_inference(dt * 0.5, -u, A * LOG2E, B, C)  # same shapes: the same workspace buffers
    assert torch.isfinite(first).all()
    torch.testing.assert_close(first, ref, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close((first, last), kept, rtol=0, atol=0)


# ---- backend selection ---------------------------------------------------------------------------------------

def test_argument_beats_environment(monkeypatch):
    monkeypatch.setenv(backends.ENV_VAR, "ref")
    assert backends.choose_backend(torch.zeros(1, 1, 64), "chunked") == "chunked"
    assert backends.choose_backend(torch.zeros(1, 1, 64)) == "ref"


def test_auto_on_cpu_picks_the_blocked_backend(monkeypatch):
    monkeypatch.delenv(backends.ENV_VAR, raising=False)
    assert backends.choose_backend(torch.zeros(2, 8, 256)) == "blocked"  # BSM-like: long and narrow
    assert backends.choose_backend(torch.zeros(2, 512, 4)) == "blocked"  # HTM-like: 4 steps


def test_unknown_backend_is_a_user_error(monkeypatch):
    with pytest.raises(MotionError, match="unknown scan backend 'fast'"):
        backends.choose_backend(torch.zeros(1, 1, 1), "fast")
    monkeypatch.setenv(backends.ENV_VAR, "bogus")
    with pytest.raises(MotionError, match=backends.ENV_VAR):
        backends.choose_backend(torch.zeros(1, 1, 1))


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU-only refusal")
@pytest.mark.parametrize("name", ["triton", "cuda"])
def test_gpu_backend_on_cpu_tensors_is_an_error_not_a_fallback(name, monkeypatch):
    monkeypatch.delenv("TRITON_INTERPRET", raising=False)
    x = make_inputs(dtype=torch.float32)
    with pytest.raises(MotionError, match=name):
        selective_scan(**x, backend=name)
    monkeypatch.setenv(backends.ENV_VAR, name)
    with pytest.raises(MotionError):
        selective_scan(**x)


def test_choice_is_logged_once(caplog, monkeypatch):
    monkeypatch.setattr(backends, "_logged_choices", set())
    with caplog.at_level(logging.INFO, logger="motion_core.ssm.backends"):
        for _ in range(3):
            backends.choose_backend(torch.zeros(1, 1, 2), "ref")
    assert sum("'ref'" in r.getMessage() for r in caplog.records) == 1


@pytest.mark.skipif(torch.cuda.is_available(), reason="GPU machines run the compiled kernels in test_ssm_gpu.py")
def test_triton_kernels_in_the_interpreter(triton_interpreter):
    """Where triton is installed but no GPU is present, run the Triton kernels through Triton's CPU interpreter."""
    x = make_inputs(batch=2, channels=8, length=21, state=5, groups=2, dtype=torch.float32, seed=9)
    ref = selective_scan(**{k: v.double() for k, v in x.items()}, delta_softplus=True, backend="ref")
    leaves = {k: v.clone().requires_grad_(True) for k, v in x.items()}
    out = selective_scan(**leaves, delta_softplus=True, backend="triton")
    torch.testing.assert_close(out.double(), ref, rtol=1e-5, atol=1e-5)
    out.sum().backward()
    ref_leaves = {k: v.double().requires_grad_(True) for k, v in x.items()}
    selective_scan(**ref_leaves, delta_softplus=True, backend="ref").sum().backward()
    for k in x:
        torch.testing.assert_close(leaves[k].grad.double(), ref_leaves[k].grad, rtol=1e-4, atol=1e-4)
