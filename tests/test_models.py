"""Model pieces: configs, the differentiable feature->joint readout, VAE, both denoisers, the MiniLM text encoder."""

import dataclasses
import json
import warnings

import numpy as np
import pytest
import torch

from motion_core.models import build_denoiser, build_vae, build_vae_from
from motion_core.models.config import ConfigError, MambaDenoiserConfig, ModelConfig, temporal_vae_config
from motion_core.models.feature_joints import features_to_joints


# ----------------------------------------------------------------------------------------------------------- config
def test_config_json_round_trip_rebuilds_the_same_config(tmp_path):
    for kind in ("motion_mamba", "mld"):
        config = ModelConfig.tiny(kind)
        config.save(tmp_path / "config.json")
        assert ModelConfig.load(tmp_path / "config.json") == config


def test_config_rejects_unknown_keys_and_wrong_types():
    data = ModelConfig.tiny().to_dict()
    with pytest.raises(ConfigError, match="denoiser.levles"):
        ModelConfig.from_dict({**data, "denoiser": {**data["denoiser"], "levles": 3}})
    with pytest.raises(ConfigError, match="unknown config key"):
        ModelConfig.from_dict({**data, "extra": 1})
    with pytest.raises(ConfigError, match="vae.num_layers must be int"):
        ModelConfig.from_dict({**data, "vae": {**data["vae"], "num_layers": "9"}})
    with pytest.raises(ConfigError, match="aggregation"):
        ModelConfig.from_dict({**data, "denoiser": {**data["denoiser"], "aggregation": "max"}})
    # an int where a float is expected is fine (JSON has one number type)
    assert ModelConfig.from_dict({**data, "fps": 20}).fps == 20.0


def test_branch_pattern_descends_2n_minus_i_plus_1_and_mirrors_in_the_decoder():
    assert MambaDenoiserConfig().encoder_branches() == [9, 7, 5, 3, 1]
    assert MambaDenoiserConfig().decoder_branches() == [1, 3, 5, 7, 9]
    assert MambaDenoiserConfig(levels=11).encoder_branches()[0] == 21
    assert MambaDenoiserConfig(branch_pattern="single", levels=3).encoder_branches() == [1, 1, 1]


# ------------------------------------------------------------------------------------------------- feature readout
def test_torch_feature_readout_matches_the_numpy_recover_from_ric():
    features_module = pytest.importorskip("motion_core.motion.features")
    rng = np.random.default_rng(0)
    features = rng.normal(size=(2, 30, 263)) * 0.3
    expected = features_module.features_to_joints(features)
    got = features_to_joints(torch.from_numpy(features)).numpy()
    assert got.shape == (2, 30, 22, 3)
    np.testing.assert_allclose(got, expected, atol=1e-5)


# ----------------------------------------------------------------------------------------------------------- VAE
@pytest.fixture(scope="module")
def tiny_vae():
    torch.manual_seed(0)
    return build_vae(ModelConfig.tiny()).eval()


def test_vae_shapes_and_zeroed_padding(tiny_vae):
    x = torch.randn(3, 40, 263)
    lengths = torch.tensor([40, 25, 12])
    z, mu, logvar = tiny_vae.encode(x, lengths)
    assert z.shape == mu.shape == logvar.shape == (3, 2, 32)
    out = tiny_vae.decode(z, lengths)
    assert out.shape == (3, 40, 263)
    assert torch.all(out[1, 25:] == 0) and torch.all(out[2, 12:] == 0)
    assert torch.all(out[2, :12].abs().sum(-1) > 0)


def test_vae_padding_never_changes_real_frames(tiny_vae):
    """The CUDA-graph length buckets rely on this: encoding ignores padded frames, decoding longer changes nothing."""
    torch.manual_seed(1)
    x = torch.randn(1, 20, 263)
    padded = torch.cat([x, torch.randn(1, 17, 263) * 5], dim=1)
    length = torch.tensor([20])
    _, mu_exact, _ = tiny_vae.encode(x, length, sample=False)
    _, mu_padded, _ = tiny_vae.encode(padded, length, sample=False)
    torch.testing.assert_close(mu_exact, mu_padded, atol=1e-5, rtol=1e-5)
    exact = tiny_vae.decode(mu_exact, length)
    bucket = tiny_vae.decode(mu_exact, length, frames=40)
    torch.testing.assert_close(bucket[:, :20], exact, atol=1e-5, rtol=1e-5)


def test_vae_training_loss_is_finite_and_trains_every_parameter():
    torch.manual_seed(2)
    vae = build_vae(ModelConfig.tiny()).train()
    vae.set_normalizer(np.zeros(263), np.full(263, 0.5))
    batch = {"motion": torch.randn(2, 16, 263), "lengths": torch.tensor([16, 9])}
    loss, parts = vae.training_loss(batch)
    assert torch.isfinite(loss) and set(parts) == {"features", "joints", "kl"}
    assert parts["joints"] > 0 and parts["kl"] > 0 and not parts["kl"].requires_grad
    loss.backward()
    missing = [n for n, p in vae.named_parameters() if p.grad is None or not torch.isfinite(p.grad).all()]
    # positions past the longest sequence get no gradient; everything else must
    assert set(missing) <= {"encoder_pos", "decoder_pos"}, missing


def test_vae_normalizer_round_trip(tiny_vae):
    vae = build_vae(ModelConfig.tiny())
    vae.set_normalizer(np.arange(263, dtype=np.float32), np.full(263, 2.0))
    x = torch.randn(2, 5, 263)
    torch.testing.assert_close(vae.denormalize(vae.normalize(x)), x, atol=1e-4, rtol=1e-5)
    torch.testing.assert_close(vae.normalize(x)[0, 0, 10], (x[0, 0, 10] - 10) / 2)


@pytest.mark.parametrize("preset", ["tiny", "tiny_temporal"])
def test_vae_save_and_load_round_trip(preset, tmp_path):
    """save_pretrained -> from_pretrained rebuilds the same class, config and tensors, from a VAE folder, a training
    run folder (its model/) or a generator folder (config.json's "vae" section)."""
    from motion_core.generator import MotionGenerator
    from motion_core.models.vae import FeatureVAE

    torch.manual_seed(3)
    vae = build_vae(getattr(ModelConfig, preset)()).eval()
    vae.set_normalizer(np.linspace(-1, 1, 263), np.linspace(0.5, 2, 263))
    vae.save_pretrained(tmp_path / "run" / "model")
    assert sorted(p.name for p in (tmp_path / "run" / "model").iterdir()) == ["vae.safetensors", "vae_config.json"]
    generator = MotionGenerator(vae, build_denoiser(getattr(ModelConfig, preset)()), None,
                                config=getattr(ModelConfig, preset)())
    generator.save_pretrained(tmp_path / "generator")
    features, lengths = torch.randn(2, 24, 263), torch.tensor([24, 17])
    with torch.no_grad():
        _, mu, _ = vae.encode(features, lengths, sample=False)
        expected = vae.decode(mu, lengths)
    for folder in (tmp_path / "run" / "model", tmp_path / "run", tmp_path / "generator"):
        loaded = FeatureVAE.from_pretrained(folder).eval()
        assert type(loaded) is type(vae) and loaded.config == vae.config
        own = vae.state_dict()
        assert all(torch.equal(value, own[key]) for key, value in loaded.state_dict().items())
        with torch.no_grad():
            torch.testing.assert_close(loaded.decode(loaded.encode(features, lengths, sample=False)[1], lengths),
                                       expected)
    vae.save_pretrained(tmp_path / "half", dtype=torch.float16)  # half the size; the statistics stay exact
    half = FeatureVAE.from_pretrained(tmp_path / "half")
    assert torch.equal(half.mean, vae.mean) and torch.equal(half.std, vae.std)


def test_vae_loading_errors_are_one_line_and_name_the_file(tmp_path):
    from motion_core.errors import MotionError
    from motion_core.models.vae import FeatureVAE

    with pytest.raises(MotionError, match="no trained VAE"):
        FeatureVAE.from_pretrained(tmp_path)
    build_vae(ModelConfig.tiny()).save_pretrained(tmp_path)
    config = json.loads((tmp_path / "vae_config.json").read_text())
    (tmp_path / "vae_config.json").write_text(json.dumps({**config, "num_layers": "3"}))
    with pytest.raises(MotionError, match="vae_config.json does not describe a VAE.*num_layers must be int"):
        FeatureVAE.from_pretrained(tmp_path)
    (tmp_path / "vae_config.json").write_text(json.dumps({**config, "layers": 3}))
    with pytest.raises(MotionError, match="unknown VAE config key"):
        FeatureVAE.from_pretrained(tmp_path)


# ------------------------------------------------------------------------------------------------------ denoisers
@pytest.mark.parametrize("kind", ["motion_mamba", "mld"])
def test_denoiser_shapes_and_batch_rows_independent(kind):
    """Guidance batches cond and uncond rows together; that is only valid if rows never interact."""
    torch.manual_seed(3)
    denoiser = build_denoiser(ModelConfig.tiny(kind)).eval()
    z = torch.randn(3, 2, 32)
    t = torch.tensor([999, 500, 1])
    text = torch.randn(3, 384)
    with torch.no_grad():
        eps = denoiser(z, t, text)
        single = denoiser(z[1:2], t[1:2], text[1:2])
        via_tokens = denoiser.forward_tokens(z, denoiser.cond.time_token(t), denoiser.cond.text_token(text))
    assert eps.shape == (3, 2, 32) and torch.isfinite(eps).all()
    torch.testing.assert_close(single, eps[1:2], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(via_tokens, eps)
    # the condition reaches the output
    with torch.no_grad():
        other = denoiser(z, t, torch.randn(3, 384))
    assert not torch.allclose(other, eps)


def test_mamba_denoiser_structure_follows_the_config():
    config = ModelConfig.tiny()
    denoiser = build_denoiser(config)
    assert [lvl.htm.branches for lvl in denoiser.encoder] == [3, 1]
    assert [lvl.htm.branches for lvl in denoiser.decoder] == [1, 3]
    assert len(denoiser.skip_fuse) == 2
    add_skip = ModelConfig.from_dict({**config.to_dict(), "denoiser": {**config.to_dict()["denoiser"], "skip": "add"}})
    assert len(build_denoiser(add_skip).skip_fuse) == 0


def test_default_denoisers_have_paper_scale_parameter_counts():
    mm = sum(p.numel() for p in build_denoiser(ModelConfig.default("motion_mamba")).parameters())
    mld = sum(p.numel() for p in build_denoiser(ModelConfig.default("mld")).parameters())
    assert 4e6 < mm < 30e6, mm
    assert 6e6 < mld < 10e6, mld  # MLD's 9-layer, 256-wide, ff-1024 transformer is ~7.9 M


# --------------------------------------------------------------------------------------------------- text encoder
@pytest.fixture(scope="module")
def text_encoder():
    from motion_core.models.text_encoder import TextEncoder

    return TextEncoder()


def test_text_encoder_gives_unit_384d_embeddings_and_caches(text_encoder):
    emb = text_encoder.encode(["a person walks forward", "", "a person walks forward"])
    assert emb.shape == (3, 384)
    torch.testing.assert_close(emb.norm(dim=-1), torch.ones(3))
    torch.testing.assert_close(emb[0], emb[2])
    assert "" in text_encoder._cache
    similar = torch.dot(emb[0], text_encoder.encode(["someone walks ahead"])[0])
    unrelated = torch.dot(emb[0], text_encoder.encode(["the stock market fell sharply"])[0])
    assert similar > unrelated


def test_text_encoder_matches_sentence_transformers(text_encoder):
    """Same weights, same pipeline (mean pooling + L2 norm) as the reference implementation."""
    import os

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    st = pytest.importorskip("sentence_transformers")
    from motion_core.models.text_encoder import text_model_dir

    reference = st.SentenceTransformer(str(text_model_dir()), device="cpu")
    prompts = ["a man jumps twice and then sits down", "walk"]
    expected = reference.encode(prompts, convert_to_tensor=True)
    torch.testing.assert_close(text_encoder.encode(prompts), expected, atol=1e-5, rtol=1e-4)


def test_text_encoder_truncates_long_prompts_with_a_warning(text_encoder):
    long_prompt = "walk " * 400
    with pytest.warns(UserWarning, match="token limit"):
        emb = text_encoder.encode([long_prompt])
    assert emb.shape == (1, 384) and torch.isfinite(emb).all()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        text_encoder.encode(["a short prompt"])


@pytest.mark.gpu
def test_text_encoder_cuda_graph_matches_eager(text_encoder):
    encoder = text_encoder.to("cuda")
    try:
        prompts = ["a person walks in a circle", "x"]
        encoder.use_cuda_graphs = True
        graphed = encoder.encode(prompts)
        encoder.clear_cache()
        encoder.use_cuda_graphs = False
        eager = encoder.encode(prompts)
        torch.testing.assert_close(graphed, eager, atol=1e-5, rtol=1e-4)
    finally:
        encoder.use_cuda_graphs = True
        encoder.to("cpu")


def test_mamba_denoiser_cpu_inference_path_matches_the_reference_path(monkeypatch):
    """The default (paper-sized) denoiser, random weights, fp32: the time-major blocked-scan path used for generation
    on CPU against the training path with the sequential reference scan."""
    import motion_core.ssm.blocks as blocks

    torch.manual_seed(0)
    denoiser = build_denoiser(ModelConfig.default("motion_mamba")).eval()
    d = denoiser.config.latent_dim
    z, time_tok, text_tok = torch.randn(2, 2, d), torch.randn(2, 1, d), torch.randn(2, 1, d)
    with torch.inference_mode():
        fast = denoiser.forward_tokens(z, time_tok, text_tok)
        monkeypatch.setattr(blocks._PathsBlock, "fast_inference", False)
        monkeypatch.setenv("MOTION_CORE_SCAN_BACKEND", "ref")
        reference = denoiser.forward_tokens(z, time_tok, text_tok)
    assert (fast - reference).abs().max().item() <= 1e-4


def test_velocity_and_planted_foot_losses_weigh_what_they_name():
    """lambda_velocity compares joint velocities; lambda_foot_contact is the speed of feet the original says are
    planted: a reconstruction whose planted foot slides costs more than one whose moving hand is off by the same."""
    torch.manual_seed(3)
    config = dataclasses.replace(ModelConfig.tiny().vae, lambda_velocity=1.0, lambda_foot_contact=1.0)
    vae = build_vae_from(config).train()
    vae.set_normalizer(np.zeros(263), np.ones(263))
    motion = torch.randn(2, 16, 263) * 0.1
    motion[..., -4:] = 1.0  # every foot planted
    loss, parts = vae.training_loss({"motion": motion, "lengths": torch.tensor([16, 12])})
    assert set(parts) == {"features", "joints", "kl", "velocity", "foot_contact"}
    assert parts["velocity"] > 0 and parts["foot_contact"] > 0 and not parts["foot_contact"].requires_grad
    loss.backward()
    assert all(p.grad is not None for n, p in vae.named_parameters() if n.startswith("dec"))
    motion[..., -4:] = 0.0  # no foot planted: nothing to pin
    _, parts = vae.training_loss({"motion": motion, "lengths": torch.tensor([16, 12])})
    assert float(parts["foot_contact"]) == 0.0
    # off (MLD's recipe): the loss has only its three parts
    plain = build_vae_from(ModelConfig.tiny().vae)
    plain.set_normalizer(np.zeros(263), np.ones(263))
    assert set(plain.training_loss({"motion": motion, "lengths": torch.tensor([16, 12])})[1]) == {
        "features", "joints", "kl"}


def test_root_loss_charges_a_lost_turn():
    """lambda_root weighs the root channels and the heading they integrate to: a reconstruction that drops a turn
    (angular velocity gone) costs it; one off by as much on a joint channel costs it nothing."""
    vae = build_vae_from(dataclasses.replace(ModelConfig.tiny().vae, lambda_root=1.0))
    vae.set_normalizer(np.zeros(263), np.full(263, 0.01))
    motion = torch.zeros(1, 40, 263)
    motion[..., 0] = 5.0  # 0.05 rad per frame in normalised units: a 2-rad turn over the clip
    lengths = torch.tensor([40])
    mu = torch.zeros(1, 10, vae.config.latent_dim)

    def reconstructs(recon):
        return lambda features, n: (recon, mu, torch.zeros_like(mu))

    no_turn = motion.clone()
    no_turn[..., 0] = 0.0
    off_joint = motion.clone()
    off_joint[..., 10] += 5.0
    _, lost = vae.training_loss({"motion": motion, "lengths": lengths}, forward=reconstructs(no_turn))
    _, other = vae.training_loss({"motion": motion, "lengths": lengths}, forward=reconstructs(off_joint))
    assert float(other["root"]) == 0.0
    # per frame 4.5 on one of the 4 root channels (1.125), plus the heading's mean error of ~1 rad (0.975)
    assert float(lost["root"]) == pytest.approx(2.1, abs=0.05)
    assert float(lost["features"]) == pytest.approx(float(other["features"]))


@pytest.mark.parametrize("preset", ["temporal", "paper"])
def test_freeze_encoder_leaves_only_the_decoder_trainable(preset):
    config = ModelConfig.tiny().vae if preset == "paper" else temporal_vae_config(latent_dim=8, conv_width=32,
                                                                                   res_blocks=1)
    vae = build_vae_from(config).freeze_encoder()
    frozen = {n for n, p in vae.named_parameters() if not p.requires_grad}
    trainable = {n for n, p in vae.named_parameters() if p.requires_grad}
    assert frozen and trainable
    # the encoder maps motion to the latent: with it frozen, mu does not depend on any trainable parameter
    mu = vae.encode(torch.randn(1, 16, 263), torch.tensor([16]), sample=False)[1]
    assert not mu.requires_grad
    assert vae.decode(mu, torch.tensor([16])).requires_grad
