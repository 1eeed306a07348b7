"""The temporal latent: the conv VAE (padding never leaks, lengths map to ceil(T/4) tokens), HTM branches that scan
backwards, denoisers over any token count, equal-length training batches, sharded weights and the generator end to end
on tiny random models."""

import numpy as np
import pytest
import torch

from motion_core.errors import MotionError
from motion_core.generator import MotionGenerator
from motion_core.models import build_denoiser, build_vae
from motion_core.models.config import ConfigError, ModelConfig
from motion_core.models.weights_file import load_weights, save_weights, weight_files
from motion_core.ssm.blocks import MultiBranchMamba


@pytest.fixture(scope="module")
def tiny_vae():
    torch.manual_seed(0)
    return build_vae(ModelConfig.tiny_temporal()).double().eval()


def test_conv_vae_latent_follows_length(tiny_vae):
    assert tiny_vae.latent_shape(196) == (49, 8)
    assert tiny_vae.latent_shape(41) == (11, 8)
    x = torch.randn(2, 41, 263, dtype=torch.float64)
    z, mu, logvar = tiny_vae.encode(x, torch.tensor([41, 41]))
    assert z.shape == mu.shape == logvar.shape == (2, 11, 8)
    assert tiny_vae.decode(mu, torch.tensor([41, 41])).shape == (2, 41, 263)


def test_conv_vae_padding_never_leaks(tiny_vae):
    torch.manual_seed(1)
    x = torch.randn(3, 64, 263, dtype=torch.float64)
    lengths = torch.tensor([64, 40, 22])
    padded = x.clone()
    padded[1, 40:] = 7.0  # garbage past the end must not matter
    padded[2, 22:] = -3.0
    with torch.no_grad():
        _, mu, _ = tiny_vae.encode(padded, lengths, sample=False)
        out = tiny_vae.decode(mu, lengths, frames=64)
        for row, n in enumerate(lengths.tolist()):
            _, alone, _ = tiny_vae.encode(x[row:row + 1, :n], lengths[row:row + 1], sample=False)
            tokens = alone.shape[1]
            torch.testing.assert_close(mu[row:row + 1, :tokens], alone, rtol=1e-9, atol=1e-9)
            assert mu[row, tokens:].abs().max() == 0 if tokens < mu.shape[1] else True
            decoded = tiny_vae.decode(alone, lengths[row:row + 1])
            torch.testing.assert_close(out[row:row + 1, :n], decoded, rtol=1e-9, atol=1e-9)
            assert out[row, n:].abs().max() == 0 if n < 64 else True


def test_alternate_htm_branches_read_what_follows():
    torch.manual_seed(2)
    x = torch.randn(1, 9, 8, dtype=torch.float64)
    later = x.clone()
    later[:, 6:] += 1.0
    forward = MultiBranchMamba(8, branches=3, aggregation="sum").double()
    torch.testing.assert_close(forward(later)[:, :6], forward(x)[:, :6], rtol=0, atol=0)  # causal: blind to later
    both = MultiBranchMamba(8, branches=3, aggregation="sum", directions="alternate", keep_prefix=2).double()
    assert (both(later)[:, :6] - both(x)[:, :6]).abs().max() > 1e-6
    prefix_only = x.clone()
    prefix_only[:, 2:] += 1.0  # the kept prefix (condition tokens) is read first by every branch: it stays causal
    torch.testing.assert_close(both(prefix_only)[:, :2], both(x)[:, :2], rtol=0, atol=0)


@pytest.mark.parametrize("length", [3, 12])
def test_alternate_htm_inference_path_matches_reference(length, monkeypatch):
    torch.manual_seed(3)
    block = MultiBranchMamba(8, branches=3, aggregation="concat_linear", directions="alternate",
                             keep_prefix=2).double()
    x = torch.randn(2, length, 8, dtype=torch.float64)
    with torch.inference_mode():
        assert block._use_time_major(x)
        fast = block(x)
        monkeypatch.setattr(MultiBranchMamba, "fast_inference", False)
        block.ssm.scan_backend = "ref"
        reference = block(x)
    torch.testing.assert_close(fast, reference, rtol=1e-10, atol=1e-10)


def relative_error(fast, reference):
    return ((fast - reference).abs().max() / reference.abs().max()).item()


@pytest.mark.parametrize("directions", ["forward", "alternate"])
def test_temporal_denoiser_cpu_inference_path_matches_the_reference_path(directions, monkeypatch):
    """The shipped temporal denoiser's shapes (width 256, 3 levels, d_state 8), random weights, fp32: the CPU
    generation path (time-major blocks, scan_inference) against the training path with the blocked scan, within
    1e-5 relative, at 1, 7 and 49 latent tokens, guidance-sized batch."""
    import motion_core.ssm.blocks as blocks

    config = ModelConfig.temporal()
    config.denoiser.htm_directions = directions
    torch.manual_seed(0)
    denoiser = build_denoiser(config).eval()
    for tokens in (1, 7, 49):
        z, time_tok, text_tok = torch.randn(2, tokens, 32), torch.randn(2, 1, 256), torch.randn(2, 1, 256)
        with torch.inference_mode():
            fast = denoiser.forward_tokens(z, time_tok, text_tok)
            with monkeypatch.context() as patch:
                patch.setattr(blocks._PathsBlock, "fast_inference", False)
                reference = denoiser.forward_tokens(z, time_tok, text_tok)
        assert relative_error(fast, reference) <= 1e-5, (directions, tokens)


@pytest.mark.parametrize("directions", ["forward", "alternate"])
@pytest.mark.parametrize("tokens", [1, 7, 49, 500])
def test_htm_block_cpu_inference_path_matches_the_reference_path(directions, tokens, monkeypatch):
    torch.manual_seed(1)
    block = MultiBranchMamba(64, branches=5, aggregation="sum", d_state=8, directions=directions, keep_prefix=2).eval()
    x = torch.randn(2, 2 + tokens, 64)  # the denoiser's two condition tokens, then the latent tokens
    with torch.inference_mode():
        assert block._use_time_major(x)
        fast = block(x)
        monkeypatch.setattr(MultiBranchMamba, "fast_inference", False)
        reference = block(x)
    assert relative_error(fast, reference) <= 1e-5


@pytest.mark.parametrize("kind", ["motion_mamba", "mld"])
def test_denoisers_take_any_token_count_and_keep_rows_apart(kind):
    torch.manual_seed(4)
    config = ModelConfig.tiny_temporal(kind)
    denoiser = build_denoiser(config).eval()
    text = torch.randn(2, 384)
    t = torch.tensor([10, 900])
    with torch.no_grad():
        for tokens in (1, 11, 49):
            z = torch.randn(2, tokens, 8)
            eps = denoiser(z, t, text)
            assert eps.shape == (2, tokens, 8) and torch.isfinite(eps).all()
            torch.testing.assert_close(denoiser(z[1:], t[1:], text[1:]), eps[1:], rtol=1e-5, atol=1e-5)


def test_conv_config_checks_its_latent_size():
    config = ModelConfig.tiny_temporal().to_dict()
    config["vae"]["latent_size"] = 10
    config["denoiser"]["latent_size"] = 10
    with pytest.raises(ConfigError, match="ceil\\(max_frames / down_factor\\)"):
        ModelConfig.from_dict(config)
    config = ModelConfig.tiny_temporal().to_dict()
    config["vae"]["down_factor"] = 3
    with pytest.raises(ConfigError, match="power of two"):
        ModelConfig.from_dict(config)


def test_paper_config_still_loads_without_the_new_keys():
    legacy = ModelConfig.default().to_dict()
    for key in ("arch", "down_factor", "conv_width", "res_blocks"):
        legacy["vae"].pop(key)
    for key in ("width", "htm_directions"):
        legacy["denoiser"].pop(key)
    legacy["diffusion"].pop("latent_scale")
    config = ModelConfig.from_dict(legacy)
    assert config.vae.arch == "transformer" and config.denoiser.htm_directions == "forward"


def test_sharded_weights_round_trip_and_incomplete_shards_are_named(tmp_path):
    state = {f"w{i}": torch.randn(64, 64) for i in range(6)}
    paths = save_weights(state, tmp_path, "vae", dtype=torch.float16, max_shard_bytes=3 * 64 * 64 * 2)
    assert [p.name for p in paths] == ["vae-00001-of-00002.safetensors", "vae-00002-of-00002.safetensors"]
    loaded = load_weights(tmp_path, "vae")
    assert loaded.keys() == state.keys()
    assert all(torch.equal(loaded[k], state[k].half()) for k in state)
    stats = {"mean": torch.randn(263) * 1e-3, "normalizer.std": torch.rand(263) + 1e-3}
    half = load_weights(tmp_path, "stats") if save_weights(stats, tmp_path, "stats", dtype=torch.float16) else None
    assert all(half[k].dtype == torch.float32 and torch.equal(half[k], stats[k]) for k in stats)  # data, not weights
    save_weights(state, tmp_path, "vae")  # a re-save in one file replaces the shards
    assert [p.name for p in weight_files(tmp_path, "vae")] == ["vae.safetensors"]
    paths = save_weights(state, tmp_path, "vae", max_shard_bytes=3 * 64 * 64 * 4)
    paths[1].unlink()
    with pytest.raises(MotionError, match="incomplete"):
        load_weights(tmp_path, "vae")


def test_equal_length_batches(tmp_path):
    from motion_core.data.dataset import BatchSampler, MotionTextDataset
    from test_dataset import fake_encode, write_tiny_corpus

    root = write_tiny_corpus(tmp_path / "corpus", clips=16)
    dataset = MotionTextDataset(root, "train", encode=fake_encode)
    sampler = BatchSampler(dataset, 6, seed=0, equal_lengths=True)
    for _ in range(5):
        batch = sampler.next()
        lengths = batch["lengths"].numpy()
        assert (lengths == lengths[0]).all() and lengths[0] % 4 == 0 and batch["mask"].all()


@pytest.mark.parametrize("kind", ["motion_mamba", "mld"])
def test_generator_on_a_temporal_latent(kind, tmp_path):
    from test_train import _FakeTextEncoder

    generator = MotionGenerator.random(ModelConfig.tiny_temporal(kind), seed=0, text_encoder=_FakeTextEncoder())
    motion = generator.generate("a person walks forward", seconds=1.3, seed=5, steps=3, variations=2, device="cpu")
    assert motion.joints.shape == (2, 26, 22, 3) and np.isfinite(motion.joints).all()
    again = generator.generate("a person walks forward", seconds=1.3, seed=5, steps=3, variations=2, device="cpu")
    np.testing.assert_array_equal(motion.joints, again.joints)
    generator.save_pretrained(tmp_path / "model", dtype=torch.float16)
    loaded = MotionGenerator.from_pretrained(tmp_path / "model", text_encoder=_FakeTextEncoder())
    assert loaded.config.vae.arch == "conv"
    reloaded = loaded.generate("a person walks forward", seconds=1.3, seed=5, steps=3, variations=2, device="cpu")
    np.testing.assert_allclose(reloaded.joints, motion.joints, atol=0.05)  # fp16 weights: close, not equal


def test_evaluation_sampling_groups_rows_by_token_count():
    from motion_core.evaluate import sample_features
    from test_dataset import fake_encode
    from test_train import _FakeTextEncoder

    generator = MotionGenerator.random(ModelConfig.tiny_temporal("mld"), seed=0, text_encoder=_FakeTextEncoder())
    prompts = ["a person walks forward", "a person jumps in place", "someone waves", "a person sits down"]
    text = torch.from_numpy(fake_encode(prompts))
    uncond = torch.from_numpy(fake_encode([""])[0])
    lengths = torch.tensor([40, 60, 42, 40])  # token counts 10, 15, 11, 10: three groups
    out = sample_features(generator, text, lengths, uncond, seed=3, steps=3, batch_size=2)
    assert out.shape == (4, 60, 263) and torch.isfinite(out).all()
    assert torch.all(out[0, 40:] == 0) and torch.all(out[2, 42:] == 0) and torch.any(out[1, 59] != 0)
    again = sample_features(generator, text, lengths, uncond, seed=3, steps=3, batch_size=2)
    assert torch.equal(out, again)
