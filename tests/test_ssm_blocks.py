"""Mamba blocks on CPU: shapes, one grouped scan per block equal to separate per-path scans, batch independence
(guidance batching), causality, gradients, the time-major inference path against the reference path."""

import pytest
import torch

import motion_core.ssm.blocks as blocks
from motion_core.ssm.blocks import BidirectionalMamba, GroupedSSM, MambaBlock, MultiBranchMamba


def seeded(cls, *args, **kwargs):
    torch.manual_seed(0)
    return cls(*args, **kwargs).double()


def single_path_copy(ssm, path):
    """A one-path GroupedSSM holding path `path`'s parameters of `ssm`."""
    one = GroupedSSM(ssm.d_inner, 1, d_state=ssm.d_state, d_conv=ssm.d_conv, dt_rank=ssm.dt_rank).double()
    rows = slice(path * ssm.d_inner, (path + 1) * ssm.d_inner)
    with torch.no_grad():
        one.conv_weight.copy_(ssm.conv_weight[rows])
        one.conv_bias.copy_(ssm.conv_bias[rows])
        one.x_proj_weight.copy_(ssm.x_proj_weight[path:path + 1])
        one.dt_proj_weight.copy_(ssm.dt_proj_weight[path:path + 1])
        one.dt_bias.copy_(ssm.dt_bias[rows])
        one.A_log.copy_(ssm.A_log[rows])
        one.D.copy_(ssm.D[rows])
    return one


@pytest.mark.parametrize("make", [
    lambda: MambaBlock(8),
    lambda: BidirectionalMamba(4),
    lambda: MultiBranchMamba(8, branches=3),
    lambda: MultiBranchMamba(8, branches=2, aggregation="sum", d_state=4, expand=1),
    lambda: BidirectionalMamba(4, aggregation="concat_linear"),
])
def test_shape_and_gradients(make):
    block = make()
    x = torch.randn(3, 5, block.d_model, requires_grad=True)
    out = block(x)
    assert out.shape == x.shape and out.dtype == x.dtype
    out.square().sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()
    for name, p in block.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


@pytest.mark.parametrize("cls,kwargs", [(MambaBlock, {}), (BidirectionalMamba, {}),
                                        (MultiBranchMamba, {"branches": 5})])
def test_one_scan_call_per_block(cls, kwargs, monkeypatch):
    calls = []
    real = blocks.selective_scan

    def counting(*args, **kw):
        calls.append(args[0].shape)
        return real(*args, **kw)

    monkeypatch.setattr(blocks, "selective_scan", counting)
    block = cls(8, **kwargs)
    block(torch.randn(2, 4, 8))
    paths = {"branches": kwargs.get("branches", 1)}["branches"] if cls is not BidirectionalMamba else 2
    assert calls == [(2, paths * block.d_inner, 4)]


@pytest.mark.parametrize("aggregation", ["concat_linear", "sum", "mean"])
def test_multibranch_equals_separate_branches(aggregation):
    block = seeded(MultiBranchMamba, 6, branches=3, aggregation=aggregation, d_state=4)
    x = torch.randn(2, 7, 6, dtype=torch.float64)
    x_in, z = block.in_proj(x).transpose(1, 2).chunk(2, dim=1)
    ys = [single_path_copy(block.ssm, k)(x_in.unsqueeze(1))[:, 0] for k in range(3)]
    gate = torch.nn.functional.silu(z)
    if aggregation == "concat_linear":
        mixed = torch.cat([y * gate for y in ys], dim=1)
    else:
        mixed = sum(ys) * gate / (3 if aggregation == "mean" else 1)
    expected = block.out_proj(mixed.transpose(1, 2))
    torch.testing.assert_close(block(x), expected, rtol=1e-10, atol=1e-10)


def test_bidirectional_equals_forward_plus_reversed_scan():
    block = seeded(BidirectionalMamba, 4, d_state=4)
    x = torch.randn(2, 9, 4, dtype=torch.float64)
    x_in, z = block.in_proj(x).transpose(1, 2).chunk(2, dim=1)
    forward = single_path_copy(block.ssm, 0)(x_in.unsqueeze(1))[:, 0]
    backward = single_path_copy(block.ssm, 1)(x_in.flip(-1).unsqueeze(1))[:, 0].flip(-1)
    expected = block.out_proj((0.5 * (forward + backward) * torch.nn.functional.silu(z)).transpose(1, 2))
    torch.testing.assert_close(block(x), expected, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("cls,kwargs", [(MambaBlock, {}), (BidirectionalMamba, {}),
                                        (MultiBranchMamba, {"branches": 3})])
def test_batched_guidance_equals_separate_calls(cls, kwargs):
    torch.manual_seed(1)
    block = cls(8, **kwargs)
    cond, uncond = torch.randn(1, 6, 8), torch.randn(1, 6, 8)
    together = block(torch.cat([cond, uncond]))
    torch.testing.assert_close(together[:1], block(cond), rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(together[1:], block(uncond), rtol=1e-6, atol=1e-6)


def test_mamba_block_is_causal_and_bidirectional_is_not():
    torch.manual_seed(2)
    x = torch.randn(1, 8, 8, dtype=torch.float64)
    changed = x.clone()
    changed[:, 5:] += 1.0
    causal = MambaBlock(8).double()
    torch.testing.assert_close(causal(changed)[:, :5], causal(x)[:, :5], rtol=0, atol=0)
    both = BidirectionalMamba(8).double()
    assert (both(changed)[:, :5] - both(x)[:, :5]).abs().max() > 1e-6


def test_initialisation_follows_mamba():
    block = MambaBlock(32)
    dt = torch.nn.functional.softplus(block.ssm.dt_bias)
    assert block.dt_rank == 2 and block.d_inner == 64
    assert dt.min() >= 1e-4 and dt.max() <= 0.1 + 1e-6
    torch.testing.assert_close(-torch.exp(block.ssm.A_log[3]), -torch.arange(1.0, 17.0))
    assert torch.equal(block.ssm.D, torch.ones(64))


def test_unknown_aggregation_raises():
    with pytest.raises(ValueError, match="aggregation"):
        MultiBranchMamba(8, branches=2, aggregation="max")


def test_one_path_computes_the_mamba_s6_recurrence_written_out():
    # conv -> silu -> x_proj -> dt_proj + softplus -> h = exp(dt A) h + dt B x, y = C h + D x, step by step
    ssm = seeded(GroupedSSM, 6, 1, d_state=4, d_conv=3, dt_rank=2)
    x = torch.randn(2, 1, 6, 9, dtype=torch.float64)
    xc = torch.nn.functional.silu(
        torch.nn.functional.conv1d(x[:, 0], ssm.conv_weight, ssm.conv_bias, padding=2, groups=6)[..., :9])
    dt, Bm, Cm = (xc.transpose(1, 2) @ ssm.x_proj_weight[0]).split([2, 4, 4], dim=-1)  # (2, 9, .)
    delta = torch.nn.functional.softplus(dt @ ssm.dt_proj_weight[0] + ssm.dt_bias)  # (2, 9, 6)
    A = -torch.exp(ssm.A_log.double())
    h = torch.zeros(2, 6, 4, dtype=torch.float64)
    ys = []
    for t in range(9):
        h = torch.exp(delta[:, t, :, None] * A) * h + delta[:, t, :, None] * Bm[:, t, None, :] * xc[:, :, t, None]
        ys.append((h * Cm[:, t, None, :]).sum(-1) + ssm.D * xc[:, :, t])
    torch.testing.assert_close(ssm(x)[:, 0], torch.stack(ys, dim=-1), rtol=1e-10, atol=1e-10)


# ---- the CPU inference path (time-major, blocked scan) against the reference path --------------------------

@pytest.mark.parametrize("make", [
    lambda: MambaBlock(8),
    lambda: MultiBranchMamba(8, branches=3),
    lambda: MultiBranchMamba(8, branches=2, aggregation="sum", d_state=4, expand=1),
    lambda: MultiBranchMamba(8, branches=3, aggregation="mean", conv_bias=False),
    # alternating directions: odd branches share one reversed input, even ones the input itself (Motion Mamba's HTM)
    lambda: MultiBranchMamba(8, branches=5, aggregation="sum", directions="alternate", keep_prefix=2),
    lambda: MultiBranchMamba(8, branches=2, directions="alternate", keep_prefix=1, conv_bias=False),
    lambda: BidirectionalMamba(4),
    lambda: BidirectionalMamba(4, aggregation="concat_linear"),
])
@pytest.mark.parametrize("length", [2, 4, 37])  # 2 < d_conv: the conv's zero history matters
def test_inference_path_matches_reference_path(make, length, monkeypatch):
    block = seeded(make)
    x = torch.randn(3, length, block.d_model, dtype=torch.float64)
    with torch.inference_mode():
        assert block._use_time_major(x)
        fast = block(x)
        monkeypatch.setattr(type(block), "fast_inference", False)
        block.ssm.scan_backend = "ref"
        reference = block(x)
    torch.testing.assert_close(fast, reference, rtol=1e-10, atol=1e-10)


def test_inference_path_only_without_gradients_or_an_explicit_backend():
    block = seeded(MultiBranchMamba, 8, branches=2)
    x = torch.randn(1, 4, 8, dtype=torch.float64)
    assert not block._use_time_major(x)  # grad mode: the training path
    with torch.no_grad():
        assert block._use_time_major(x)
        block.ssm.scan_backend = "chunked"
        assert not block._use_time_major(x)


def test_inference_path_sees_updated_A_log():
    # A = -exp(A_log) is cached for inference; an in-place update (an optimiser step, load_state_dict) must show.
    block = seeded(MultiBranchMamba, 8, branches=2)
    x = torch.randn(2, 4, 8, dtype=torch.float64)
    with torch.inference_mode():
        before = block(x)
    with torch.no_grad():
        block.ssm.A_log.add_(1.0)
    with torch.inference_mode():
        after = block(x)
        block.ssm.scan_backend = "ref"
        reference = block.forward(x) if not block._use_time_major(x) else None
    assert not torch.allclose(before, after)
    torch.testing.assert_close(after, reference, rtol=1e-10, atol=1e-10)


def test_inference_path_sees_updated_conv_weight():
    # The conv taps are cached contiguous for inference; an in-place update must show, as for A_log.
    block = seeded(MultiBranchMamba, 8, branches=3, directions="alternate", keep_prefix=1)
    x = torch.randn(2, 6, 8, dtype=torch.float64)
    with torch.inference_mode():
        before = block(x)
    with torch.no_grad():
        block.ssm.conv_weight.mul_(-0.5)
    with torch.inference_mode():
        after = block(x)
        block.ssm.scan_backend = "ref"
        assert not block._use_time_major(x)
        reference = block(x)
    assert not torch.allclose(before, after)
    torch.testing.assert_close(after, reference, rtol=1e-10, atol=1e-10)
