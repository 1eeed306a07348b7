"""GPU backends against the float64 reference: forward, backward, dtypes, layouts, graph capture.

Tolerances (error bound = atol + rtol * max |reference|, per tensor):
    float32: rtol 1e-4, atol 1e-5 forward; rtol 1e-3, atol 1e-4 gradients (sums over long sequences)
    bfloat16 / float16 inputs: rtol 2e-2 (output rounding alone is 2^-8 / 2^-11 relative)
The reference runs on the same (rounded) inputs upcast to float64, so only the backend's arithmetic is measured.
"""

import pytest
import torch

from motion_core.ssm import selective_scan
from motion_core.ssm.backends import backend_unavailable_reason

pytestmark = pytest.mark.gpu

TOLERANCE = {torch.float32: (1e-4, 1e-5), torch.bfloat16: (2e-2, 1e-3), torch.float16: (5e-3, 1e-4)}
GRAD_TOLERANCE = {torch.float32: (1e-3, 1e-4), torch.bfloat16: (5e-2, 1e-3), torch.float16: (1e-2, 1e-3)}


def needs(backend):
    probe = torch.empty(1, 1, 1, device="cuda") if torch.cuda.is_available() else torch.empty(1)
    reason = backend_unavailable_reason(backend, probe) if torch.cuda.is_available() else "no CUDA"
    return pytest.mark.skipif(reason is not None, reason=str(reason))


def make_inputs(batch, channels, length, state=16, groups=1, dtype=torch.float32, seed=0, z=True, bias=True):
    g = torch.Generator(device="cuda").manual_seed(seed)

    def randn(*shape):
        return torch.randn(*shape, generator=g, device="cuda")

    return dict(
        u=randn(batch, channels, length).to(dtype),
        delta=(randn(batch, channels, length) * 0.5 - 1.0).to(dtype),
        A=-torch.rand(channels, state, generator=g, device="cuda") * 4,
        B=randn(batch, groups, state, length).to(dtype),
        C=randn(batch, groups, state, length).to(dtype),
        D=randn(channels),
        z=randn(batch, channels, length).to(dtype) if z else None,
        delta_bias=randn(channels) * 0.5 if bias else None,
    )


def float64(x):
    return {k: (v.double() if v is not None else None) for k, v in x.items()}


def assert_within(actual, expected, rtol, atol, what):
    error = (actual.double() - expected.double()).abs().max().item()
    bound = atol + rtol * expected.double().abs().max().item()
    assert error <= bound, f"{what}: max error {error:.3g} > {bound:.3g}"


SHAPES = [(2, 512, 4, 1), (2, 16, 256, 2), (1, 64, 1, 1), (2, 24, 37, 3), (1, 128, 2048, 1), (3, 40, 100, 5)]


@pytest.mark.parametrize("backend", [pytest.param("triton", marks=needs("triton")),
                                     pytest.param("cuda", marks=needs("cuda"))])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16], ids=str)
@pytest.mark.parametrize("batch,channels,length,groups", SHAPES)
def test_forward_matches_reference(backend, dtype, batch, channels, length, groups):
    x = make_inputs(batch, channels, length, groups=groups, dtype=dtype, seed=length)
    out, last = selective_scan(**x, delta_softplus=True, return_last_state=True, backend=backend)
    ref, ref_last = selective_scan(**float64(x), delta_softplus=True, return_last_state=True, backend="ref")
    assert out.dtype == dtype and last.dtype == torch.float32
    rtol, atol = TOLERANCE[dtype]
    assert_within(out, ref, rtol, atol, "out")
    assert_within(last, ref_last, 1e-4, 1e-5, "last state")


@pytest.mark.parametrize("backend", [pytest.param("triton", marks=needs("triton")),
                                     pytest.param("cuda", marks=needs("cuda"))])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16], ids=str)
@pytest.mark.parametrize("batch,channels,length,groups", [(2, 32, 4, 1), (2, 16, 256, 2), (1, 24, 333, 3)])
def test_gradients_match_reference(backend, dtype, batch, channels, length, groups):
    x = make_inputs(batch, channels, length, groups=groups, dtype=dtype, seed=7)
    grads = {}
    for name, inputs in (("fast", x), ("ref", float64(x))):
        leaves = {k: v.detach().clone().requires_grad_(True) for k, v in inputs.items() if v is not None}
        out = selective_scan(**leaves, delta_softplus=True, backend=backend if name == "fast" else "ref")
        weights = torch.randn(out.shape, generator=torch.Generator(device="cuda").manual_seed(1), device="cuda")
        (out.double() * weights.double()).sum().backward()
        grads[name] = {k: v.grad for k, v in leaves.items()}
    rtol, atol = GRAD_TOLERANCE[dtype]
    for key, ref_grad in grads["ref"].items():
        assert grads["fast"][key].dtype == x[key].dtype, key
        assert_within(grads["fast"][key], ref_grad, rtol, atol, f"d{key}")


@needs("triton")
def test_triton_accepts_channel_last_views_without_copy():
    x = make_inputs(2, 64, 50, groups=1, seed=3)
    channel_last = {k: (v.transpose(1, 2).contiguous().transpose(1, 2) if k in ("u", "delta", "z") else v)
                    for k, v in x.items()}
    assert channel_last["u"].stride(-1) != 1
    a = selective_scan(**x, delta_softplus=True, backend="triton")
    b = selective_scan(**channel_last, delta_softplus=True, backend="triton")
    assert_within(b, a, 1e-6, 1e-6, "channel-last")


@needs("triton")
def test_triton_forward_is_deterministic_and_graph_capturable():
    x = make_inputs(2, 512, 4, seed=4)
    with torch.no_grad():
        first = selective_scan(**x, backend="triton")
        assert torch.equal(first, selective_scan(**x, backend="triton"))
        stream = torch.cuda.Stream()
        stream.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(stream):
            selective_scan(**x, backend="triton")
        torch.cuda.current_stream().wait_stream(stream)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            captured = selective_scan(**x, backend="triton")
        x["u"].mul_(2.0)  # new inputs in the same buffers
        graph.replay()
        torch.testing.assert_close(captured, selective_scan(**x, backend="triton"), rtol=0, atol=0)


@needs("triton")
def test_blocks_run_on_triton_and_match_chunked():
    from motion_core.ssm.blocks import BidirectionalMamba, MultiBranchMamba

    torch.manual_seed(0)
    for block in (MultiBranchMamba(64, branches=5), BidirectionalMamba(4)):
        block = block.cuda()
        x = torch.randn(2, 4 if isinstance(block, MultiBranchMamba) else 256, block.d_model, device="cuda")
        block.ssm.scan_backend = "triton"
        fast = block(x)
        block.ssm.scan_backend = "chunked"
        slow = block(x)
        assert_within(fast, slow, 1e-4, 1e-5, type(block).__name__)
