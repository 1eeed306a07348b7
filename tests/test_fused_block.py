"""The fused CUDA inference path of the SSM blocks (motion_core/ssm/fused_block.py) against the reference path.

GPU tests: every block kind and scan order, lengths that fit one register tile and lengths that need several, the
whole denoiser at every latent length the shipped model serves (random and trained weights), CUDA-graph capture.
fp32 tolerance: 1e-4 of the reference's largest magnitude. Without a GPU, the kernels run in Triton's interpreter
when triton is installed (small shapes; the interpreter is slow).
"""

import contextlib
import json
import os

import pytest
import torch

from motion_core.models.config import ModelConfig
from motion_core.ssm import fused_block
from motion_core.ssm.blocks import BidirectionalMamba, MambaBlock, MultiBranchMamba

RTOL = 1e-4


@contextlib.contextmanager
def launch_settings(**values):
    """fused_block's launch settings changed for a block of code, then restored."""
    saved = fused_block.settings()
    fused_block.configure(**values)
    try:
        yield
    finally:
        fused_block.configure(**saved)


@pytest.fixture(autouse=True)
def settings_from_environment():
    """FUSED_SETTINGS=file.json (tools/gpu/fused_check.sh, with tune_fused.py's best): run under those settings."""
    values = {}
    if os.environ.get("FUSED_SETTINGS"):
        with open(os.environ["FUSED_SETTINGS"]) as f:
            values = json.load(f)
    with launch_settings(**values):
        yield


def assert_close(actual, expected, what):
    error = (actual - expected).abs().max().item()
    bound = RTOL * expected.abs().max().item()
    assert error <= bound, f"{what}: max error {error:.3g} > {bound:.3g}"


def perturbed(module, seed=0):
    """The module with its parameters moved off their initial values (D = 1, zero biases hide mistakes)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.add_(torch.randn(p.shape, generator=g) * 0.1)
    return module.eval()


BLOCKS = {
    "htm_alternate": lambda d: MultiBranchMamba(d, branches=5, aggregation="sum", directions="alternate",
                                                keep_prefix=2, d_state=8),
    "htm_forward_mean": lambda d: MultiBranchMamba(d, branches=3, aggregation="mean", d_state=16),
    "plain": lambda d: MambaBlock(d, d_state=8),
    "bsm": lambda d: BidirectionalMamba(d, d_state=8),
}


def reference_level(norm, block, x, bsm):
    """x + block(norm(x)) on the reference path; for BSM over the channel axis with the token slots zero-padded."""
    saved = fused_block.enabled
    fused_block.enabled = False
    try:
        if not bsm:
            return x + block(norm(x))
        n = x.shape[1]
        seq = torch.nn.functional.pad(norm(x).transpose(1, 2), (0, block.d_model - n))
        return x + block(seq)[..., :n].transpose(1, 2)
    finally:
        fused_block.enabled = saved


def check_block(name, d, length, device, n=None, batch=2):
    torch.manual_seed(1)
    bsm = name == "bsm"
    block = perturbed(BLOCKS[name](length if bsm else d)).to(device)  # BSM: features = token slots
    norm = perturbed(torch.nn.LayerNorm(d)).to(device)
    x = torch.randn(batch, n or length, d, device=device)
    with torch.no_grad():
        expected = reference_level(norm, block, x, bsm)
        if bsm:
            actual = fused_block.level_bsm(norm, block, x)
        elif name == "plain":
            actual = x + fused_block.block_forward(block, norm(x))
        else:
            actual = fused_block.level_htm(norm, block, x)
    assert_close(actual, expected, f"{name} d={d} length={length} n={n} batch={batch}")


gpu = pytest.mark.gpu


@gpu
@pytest.mark.parametrize("name", list(BLOCKS))
@pytest.mark.parametrize("d,length", [(256, 51), (256, 3), (64, 130), (96, 2)])
def test_fused_blocks_match_reference(name, d, length):
    check_block(name, d, length, "cuda")


@gpu
def test_fused_blocks_match_reference_over_short_chunks():
    """Several chunks per scan for every block kind (BSM's 64-row sequence too), a reversed path crossing them."""
    with launch_settings(MAX_CHUNK=16):
        for name in BLOCKS:
            check_block(name, 64, 130, "cuda")


@gpu
def test_fused_bsm_with_fewer_tokens_than_slots():
    check_block("bsm", 256, 51, "cuda", n=12)


@gpu
@pytest.mark.parametrize("batch", [1, 5, 32])
def test_fused_blocks_at_other_batch_sizes(batch):
    for name in BLOCKS:
        check_block(name, 256, 51, "cuda", batch=batch)


def _denoisers(device):
    from motion_core.generator import MotionGenerator
    from motion_core.models.mamba_denoiser import MotionMambaDenoiser

    torch.manual_seed(0)
    random = perturbed(MotionMambaDenoiser(ModelConfig.temporal("motion_mamba").denoiser)).to(device)
    trained = MotionGenerator.from_pretrained(with_text_encoder=False).denoiser.to(device).eval()
    return {"random": random, "trained": trained}


@gpu
def test_fused_denoiser_matches_reference_at_every_latent_length():
    """Every temporal latent length of 1..9.8 s (1..49 tokens), guidance batch of 2, fused against reference."""
    for label, denoiser in _denoisers("cuda").items():
        c = denoiser.config
        d = c.width or c.latent_dim
        g = torch.Generator(device="cuda").manual_seed(3)
        for n in range(1, c.latent_size + 1):
            z = torch.randn(2, n, c.latent_dim, device="cuda", generator=g)
            time_tok, text_tok = (torch.randn(2, 1, d, device="cuda", generator=g) for _ in range(2))
            with torch.inference_mode():
                actual = denoiser.forward_tokens(z, time_tok, text_tok)
                fused_block.enabled = False
                try:
                    expected = denoiser.forward_tokens(z, time_tok, text_tok)
                finally:
                    fused_block.enabled = True
            assert_close(actual, expected, f"{label} denoiser, {n} tokens")


@gpu
def test_fused_denoiser_is_deterministic_and_graph_capturable():
    from motion_core.cuda_graphs import capture

    denoiser = _denoisers("cuda")["trained"]
    c = denoiser.config
    z = torch.randn(2, c.latent_size, c.latent_dim, device="cuda")
    tokens = torch.randn(2, 2, c.width, device="cuda")
    with torch.inference_mode():
        eager = denoiser.forward_tokens(z, tokens[:, :1], tokens[:, 1:])
        assert torch.equal(eager, denoiser.forward_tokens(z, tokens[:, :1], tokens[:, 1:]))
        graph, out = capture(torch.device("cuda"), lambda: denoiser.forward_tokens(z, tokens[:, :1], tokens[:, 1:]))
        graph.replay()
        torch.cuda.synchronize()
        assert torch.equal(out, eager)


def test_fused_path_stays_off_on_cpu_and_for_concat_aggregation():
    block = BLOCKS["htm_alternate"](32)
    x = torch.randn(2, 5, 32)
    with torch.no_grad():
        assert not fused_block.usable(block, x)  # CPU tensors take the CPU inference path
    concat = MultiBranchMamba(32, branches=2, aggregation="concat_linear")
    assert not fused_block.usable(concat, x)


@pytest.mark.skipif(torch.cuda.is_available(), reason="GPU machines run the compiled kernels above")
def test_fused_kernels_in_the_interpreter(triton_interpreter):
    """Where triton is installed but no GPU is present, run the kernels through Triton's CPU interpreter."""
    for name in BLOCKS:
        check_block(name, 24, 9, "cpu", batch=3)  # timeline windows batch several rows; x_proj's sum in 2 splits
    with launch_settings(MAX_CHUNK=32):  # 3 chunks for 70 rows
        for name in BLOCKS:
            check_block(name, 16, 70, "cpu")  # a reversed path crosses from one register tile to the next
    with launch_settings(**fused_block.FIRST_LAYOUT):  # delta from conv_proj, x_proj by tl.dot
        check_block("htm_alternate", 16, 70, "cpu")
        check_block("bsm", 70, 9, "cpu")  # BSM's sequence is the 70 channels
