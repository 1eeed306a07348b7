"""MotionGenerator: generation on tiny random models, determinism, validation, weights loading and its errors."""

import json

import numpy as np
import pytest
import torch

from motion_core import generator as generator_module
from motion_core.errors import MotionError
from motion_core.generator import GenerationCancelled, MotionGenerator
from motion_core.models.config import ModelConfig

STEPS = 6  # a few DDIM steps keep the tests fast; the schedule itself is tested in test_diffusion.py


@pytest.fixture(scope="module")
def text_encoder():
    from motion_core.models.text_encoder import TextEncoder

    return TextEncoder()


def _tiny(kind, text_encoder):
    gen = MotionGenerator.random(ModelConfig.tiny(kind), seed=0, text_encoder=text_encoder)
    return gen


@pytest.fixture(scope="module", params=["motion_mamba", "mld"])
def tiny(request, text_encoder):
    return _tiny(request.param, text_encoder)


@pytest.fixture(scope="module")
def tiny_mamba(text_encoder):
    return _tiny("motion_mamba", text_encoder)


def test_generate_returns_a_motion_with_joints_and_features(tiny):
    motion = tiny.generate("a person walks forward", seconds=2.0, seed=3, steps=STEPS, variations=2, device="cpu")
    assert motion.joints.shape == (2, 40, 22, 3) and motion.joints.dtype == np.float32
    assert motion.features.shape == (2, 40, 263)
    assert np.isfinite(motion.joints).all()
    assert motion.fps == 20.0 and motion.seed == 3 and motion.prompt == "a person walks forward"
    assert motion.info["steps"] == STEPS and motion.info["device"] == "cpu"
    assert not np.allclose(motion.joints[0], motion.joints[1])  # variations get different noise


def test_same_seed_same_motion_and_other_seed_differs(tiny_mamba):
    a = tiny_mamba.generate("jump", 1.5, seed=11, steps=STEPS, device="cpu")
    b = tiny_mamba.generate("jump", 1.5, seed=11, steps=STEPS, device="cpu")
    c = tiny_mamba.generate("jump", 1.5, seed=12, steps=STEPS, device="cpu")
    np.testing.assert_array_equal(a.joints, b.joints)
    assert not np.allclose(a.joints, c.joints)


def test_seed_none_draws_a_seed_that_reproduces(tiny_mamba):
    a = tiny_mamba.generate("wave", 1.0, seed=None, steps=STEPS, device="cpu")
    assert isinstance(a.seed, int)
    b = tiny_mamba.generate("wave", 1.0, seed=a.seed, steps=STEPS, device="cpu")
    np.testing.assert_array_equal(a.joints, b.joints)


def test_prompt_and_guidance_change_the_result(tiny_mamba):
    walk = tiny_mamba.generate("walk", 1.0, seed=1, steps=STEPS, device="cpu")
    dance = tiny_mamba.generate("dance", 1.0, seed=1, steps=STEPS, device="cpu")
    assert not np.allclose(walk.joints, dance.joints)
    unconditional = tiny_mamba.generate("", 1.0, seed=1, steps=STEPS, guidance=0.0, device="cpu")
    assert unconditional.joints.shape == (1, 20, 22, 3)
    assert not np.allclose(unconditional.joints, walk.joints)


def test_foot_cleanup_is_on_by_default_and_can_be_turned_off(tiny_mamba, monkeypatch):
    """The generator hands its decoded joints and the features' contact channels to the cleanup, then the jitter
    low-pass, unless told not to."""
    from motion_core.data.procedural import generate_clip
    from motion_core.metrics import foot_skate_ratio
    from motion_core.motion.features import joints_to_features, recover_from_ric
    from motion_core.motion.foot_cleanup import clean_foot_contacts
    from motion_core.motion.jitter import remove_jitter

    walk, _ = generate_clip("walk", np.random.default_rng(0))
    features = joints_to_features(walk)[:39]  # (39, 263): a walk whose contact channels are HumanML3D's labels
    joints = recover_from_ric(features)
    t = np.arange(len(joints)) / 20.0
    joints[:, [7, 8, 10, 11], 2] += 0.08 * np.sin(2 * np.pi * t / 0.8)[:, None]  # the feet slide under the body
    decoded = (joints[None].astype(np.float32), features[None].astype(np.float32))
    monkeypatch.setattr(tiny_mamba, "sample", lambda *args, **kwargs: (decoded[0].copy(), decoded[1].copy()))

    cleaned = tiny_mamba.generate("a person walks", 2.0, seed=1, steps=STEPS, device="cpu")
    raw = tiny_mamba.generate("a person walks", 2.0, seed=1, steps=STEPS, device="cpu", foot_cleanup=False)
    assert cleaned.info["foot_cleanup"] is True and raw.info["foot_cleanup"] is False
    np.testing.assert_array_equal(raw.joints, decoded[0])
    np.testing.assert_array_equal(cleaned.features, raw.features)
    np.testing.assert_array_equal(cleaned.joints, remove_jitter(clean_foot_contacts(decoded[0], decoded[1][..., -4:])))
    assert foot_skate_ratio(cleaned.joints[0]) < 0.5 * foot_skate_ratio(raw.joints[0])


def test_progress_reports_every_step_and_cancel_stops(tiny_mamba):
    seen = []
    tiny_mamba.generate("walk", 1.0, seed=1, steps=STEPS, device="cpu", progress=lambda s, t: seen.append((s, t)))
    assert seen == [(i, STEPS) for i in range(1, STEPS + 1)]
    polls = []

    def cancel():
        polls.append(1)
        return len(polls) > 2

    with pytest.raises(GenerationCancelled):
        tiny_mamba.generate("walk", 1.0, seed=1, steps=STEPS, device="cpu", cancel=cancel)
    assert len(polls) == 3


@pytest.mark.parametrize("kwargs, message", [
    ({"prompt": ""}, "prompt is empty"),
    ({"prompt": "   "}, "prompt is empty"),
    ({"prompt": 5}, "must be text"),
    ({"seconds": 0.5}, "between 1 and 9.8"),
    ({"seconds": 12}, "between 1 and 9.8"),
    ({"seconds": float("nan")}, "finite"),
    ({"seconds": "3"}, "finite number"),
    ({"guidance": float("inf")}, "finite"),
    ({"guidance": -1.0}, "between 0 and"),
    ({"steps": 0}, "steps"),
    ({"steps": 2.5}, "steps"),
    ({"steps": 5000}, "steps"),
    ({"variations": 0}, "variations"),
    ({"variations": 1000}, "variations"),
    ({"seed": -1}, "seed"),
    ({"seed": 1.5}, "seed"),
    ({"device": "tpu"}, "device"),
])
def test_bad_requests_raise_one_line_motion_errors(tiny_mamba, kwargs, message):
    request = {"prompt": "walk", "seconds": 2.0, "steps": STEPS, "device": "cpu", **kwargs}
    with pytest.raises(MotionError, match=message) as info:
        tiny_mamba.generate(**request)
    assert "\n" not in str(info.value)


def test_cuda_request_without_cuda_is_a_motion_error(tiny_mamba):
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    with pytest.raises(MotionError, match="--device cpu"):
        tiny_mamba.generate("walk", 2.0, steps=STEPS, device="cuda")


def test_save_and_load_reproduce_the_same_motion(tiny, tmp_path, text_encoder):
    tiny.save_pretrained(tmp_path / "w")
    assert sorted(p.name for p in (tmp_path / "w").iterdir()) == ["config.json", "denoiser.safetensors",
                                                                  "vae.safetensors"]
    loaded = MotionGenerator.from_pretrained(tmp_path / "w", text_encoder=text_encoder)
    assert loaded.config == tiny.config
    a = tiny.generate("turn around", 1.0, seed=5, steps=STEPS, device="cpu")
    b = loaded.generate("turn around", 1.0, seed=5, steps=STEPS, device="cpu")
    np.testing.assert_array_equal(a.joints, b.joints)


def test_no_installed_weights_says_so_and_names_the_flag(monkeypatch, tmp_path):
    monkeypatch.setattr(generator_module, "DEFAULT_WEIGHTS_DIR", tmp_path / "nothing-here")
    with pytest.raises(MotionError, match="no trained weights are installed.*--weights"):
        MotionGenerator.from_pretrained()


@pytest.fixture
def saved(tiny_mamba, tmp_path):
    return tiny_mamba.save_pretrained(tmp_path / "w")


def test_missing_truncated_and_mismatched_weights_name_the_file(saved, text_encoder):
    def load():
        return MotionGenerator.from_pretrained(saved, text_encoder=text_encoder)

    data = (saved / "denoiser.safetensors").read_bytes()
    (saved / "denoiser.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(MotionError, match="denoiser.safetensors is damaged or truncated"):
        load()
    (saved / "denoiser.safetensors").unlink()
    with pytest.raises(MotionError, match="denoiser.safetensors is missing"):
        load()

    config = json.loads((saved / "config.json").read_text())
    config["denoiser"]["latent_dim"] = config["vae"]["latent_dim"] = 48
    (saved / "config.json").write_text(json.dumps(config))
    with pytest.raises(MotionError, match="vae.safetensors does not match config.json.*shape"):
        load()
    (saved / "config.json").write_text("{not json")
    with pytest.raises(MotionError, match="config.json is not valid JSON"):
        load()
    (saved / "config.json").write_text(json.dumps({"denoiser_kind": "motion_mamba", "colour": "red"}))
    with pytest.raises(MotionError, match="unknown config key"):
        load()


def test_pickle_checkpoints_are_refused(tmp_path, text_encoder):
    (tmp_path / "model.ckpt").write_bytes(b"\x80\x04not really")
    with pytest.raises(MotionError, match="pickle checkpoints, which are never loaded"):
        MotionGenerator.from_pretrained(tmp_path, text_encoder=text_encoder)
    with pytest.raises(MotionError, match="weights folder not found"):
        MotionGenerator.from_pretrained(tmp_path / "absent", text_encoder=text_encoder)


@pytest.mark.gpu
def test_cuda_graph_matches_eager_on_gpu_and_is_deterministic(text_encoder):
    gen = MotionGenerator.random(ModelConfig.tiny(), seed=0, text_encoder=text_encoder)
    gen.use_cuda_graphs = False
    eager = gen.generate("a person waves", 2.3, seed=4, steps=STEPS, device="cuda")
    gen.use_cuda_graphs = True
    graphed = gen.generate("a person waves", 2.3, seed=4, steps=STEPS, device="cuda")
    again = gen.generate("a person waves", 2.3, seed=4, steps=STEPS, device="cuda")
    chunked = gen.generate("a person waves", 2.3, seed=4, steps=STEPS, device="cuda", progress=lambda s, t: None)
    assert graphed.info["cuda_graph"] and graphed.joints.shape == (1, 46, 22, 3)
    np.testing.assert_array_equal(graphed.joints, again.joints)
    np.testing.assert_allclose(graphed.joints, eager.joints, atol=1e-3)
    np.testing.assert_allclose(chunked.joints, graphed.joints, atol=1e-4)
    cpu = gen.generate("a person waves", 2.3, seed=4, steps=STEPS, device="cpu")
    np.testing.assert_allclose(cpu.joints, eager.joints, atol=1e-2)


@pytest.mark.skipif(not (generator_module.DEFAULT_WEIGHTS_DIR / "config.json").is_file(),
                    reason="no shipped weights in this checkout")
def test_shipped_model_cpu_inference_path_matches_the_reference_path(monkeypatch):
    """The CPU fast path (time-major blocks, scan_inference, cached constants) computes what the module path
    computes, on the shipped weights in fp32 at the 9.8-s latent with the guidance batch: <= 1e-4 relative."""
    from motion_core.ssm import blocks

    gen = MotionGenerator.from_pretrained(with_text_encoder=False)
    c = gen.config.denoiser
    torch.manual_seed(0)
    z = torch.randn(2, *gen.vae.latent_shape(196))
    time_tok, text_tok = gen.denoiser.cond.time_token(torch.tensor([981, 981]))[:, None], torch.randn(2, 1, c.width)
    with torch.inference_mode():
        fast = gen.denoiser.forward_tokens(z, time_tok.reshape(2, 1, -1), text_tok)
        monkeypatch.setattr(blocks._PathsBlock, "fast_inference", False)
        reference = gen.denoiser.forward_tokens(z, time_tok.reshape(2, 1, -1), text_tok)
    error = float((fast - reference).abs().max() / reference.abs().max())
    assert error <= 1e-4, error
