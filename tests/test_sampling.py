"""The one sampling loop (`MotionGenerator.sample_embeddings`): generation reproduces the loop it replaced, evaluation
samples exactly what generation samples, and steps / guidance default to the model's config.diffusion."""

import dataclasses

import numpy as np
import pytest
import torch

from motion_core import diffusion
from motion_core.errors import MotionError
from motion_core.evaluate import sample_features
from motion_core.generator import MotionGenerator, _cpu_threads
from motion_core.models.config import ModelConfig
from test_dataset import fake_encode

STEPS = 4


class _FakeTextEncoder:
    def encode(self, prompts):
        return torch.from_numpy(fake_encode(prompts))

    def to(self, device):
        return self


def _generator(preset, kind, **diffusion_overrides):
    config = getattr(ModelConfig, preset)(kind)
    config.diffusion = dataclasses.replace(config.diffusion, **diffusion_overrides)
    return MotionGenerator.random(config, seed=0, text_encoder=_FakeTextEncoder())


def _old_sample(gen, prompt, frames, seed, steps, guidance, variations):
    """The generator's eager path before the loop was unified (commit 3855cd8, `_sample_eager` and `_denoise`):
    it applied the DDIM coefficients itself instead of calling the scheduler's `step`. Kept here as the oracle."""
    noise = torch.randn((variations, *gen.vae.latent_shape(frames)), generator=torch.Generator().manual_seed(seed))
    with torch.inference_mode():
        text_emb = gen.text_embeddings(prompt, guidance, variations)
        scheduler = diffusion.DDIMScheduler(gen.schedule)
        scheduler.set_timesteps(steps)
        time_tokens = gen.denoiser.cond.time_token(scheduler.timesteps)[:, None]
        coef_x = [float(v) for v in scheduler.coef_x]
        coef_eps = [float(v) for v in scheduler.coef_eps]
        x = noise
        text_tok = gen.denoiser.cond.text_token(text_emb)
        V = x.shape[0]
        with _cpu_threads(gen.device, gen.cpu_loop_threads):
            for i in range(steps):
                if text_tok.shape[0] == 2 * V:
                    eps = gen.denoiser.forward_tokens(torch.cat([x, x]), time_tokens[i].expand(2 * V, -1, -1),
                                                      text_tok)
                    eps = diffusion.guided_eps(eps, guidance)
                else:
                    eps = gen.denoiser.forward_tokens(x, time_tokens[i].expand(V, -1, -1), text_tok)
                x = x * coef_x[i] + eps * coef_eps[i]
        lengths = torch.full((V,), frames, dtype=torch.long)
        joints, features = gen._decode(x, lengths, frames)
    return joints[:, :frames].float().numpy(), features[:, :frames].float().numpy()


@pytest.mark.parametrize("preset", ["tiny", "tiny_temporal"])
@pytest.mark.parametrize("kind", ["motion_mamba", "mld"])
@pytest.mark.parametrize("guidance", [7.5, 0.0])
def test_generation_reproduces_the_loop_it_replaced(preset, kind, guidance):
    gen = _generator(preset, kind)
    prompt = "a person walks forward" if guidance else ""
    joints, features = gen.sample(prompt, 37, seed=5, steps=STEPS, guidance=guidance, variations=2)
    old_joints, old_features = _old_sample(gen, prompt, 37, seed=5, steps=STEPS, guidance=guidance, variations=2)
    # bit-identical on this machine; 1e-6 leaves room for another BLAS
    np.testing.assert_allclose(features, old_features, rtol=0, atol=1e-6)
    np.testing.assert_allclose(joints, old_joints, rtol=0, atol=1e-6)


@pytest.mark.parametrize("preset", ["tiny", "tiny_temporal"])
@pytest.mark.parametrize("guidance", [7.5, 0.0])
def test_evaluation_samples_what_generation_samples(preset, guidance):
    """The same embeddings, lengths and noise seed give the same features through either entry point."""
    gen = _generator(preset, "motion_mamba")
    prompt, frames, variations = "a person jumps in place", 44, 3
    _, features = gen.sample(prompt, frames, seed=9, steps=STEPS, guidance=guidance, variations=variations)
    text = torch.from_numpy(fake_encode([prompt])).expand(variations, -1)
    uncond = torch.from_numpy(fake_encode([""])[0])
    if guidance == 0:  # unconditional generation conditions every row on ""
        text = uncond[None].expand(variations, -1)
    evaluated = sample_features(gen, text, torch.full((variations,), frames), uncond, seed=9, steps=STEPS,
                                guidance=guidance, batch_size=variations)
    np.testing.assert_allclose(evaluated.numpy(), features, rtol=0, atol=1e-6)


def test_steps_and_guidance_default_to_the_model_config(monkeypatch):
    gen = _generator("tiny", "mld", steps=3, guidance=2.0)
    calls = []
    real_step = diffusion.DDIMScheduler.step
    monkeypatch.setattr(diffusion.DDIMScheduler, "step",
                        lambda self, *args: calls.append(args[1]) or real_step(self, *args))
    seen = []
    motion = gen.generate("a person waves", 1.0, seed=2, device="cpu", foot_cleanup=False,
                          progress=lambda step, total: seen.append((step, total)))
    assert calls == [0, 1, 2] and seen[-1] == (3, 3)  # every step goes through the scheduler
    assert motion.info["steps"] == 3 and motion.info["guidance"] == 2.0
    explicit = gen.generate("a person waves", 1.0, seed=2, steps=3, guidance=2.0, device="cpu", foot_cleanup=False)
    np.testing.assert_array_equal(motion.joints, explicit.joints)


def test_text_rows_must_match_the_guidance():
    gen = _generator("tiny", "mld")
    noise = torch.randn(2, *gen.vae.latent_shape(20))
    with torch.inference_mode(), pytest.raises(ValueError, match="4 rows"):
        gen.sample_embeddings(torch.zeros(2, gen.config.text.dim), noise, steps=2, guidance=7.5)


def test_a_generator_without_text_encoder_still_samples_embeddings():
    gen = _generator("tiny", "mld")
    gen.text_encoder = None
    noise = torch.randn(1, *gen.vae.latent_shape(20))
    with torch.inference_mode():
        latents = gen.sample_embeddings(torch.zeros(2, gen.config.text.dim), noise, steps=2)
        assert latents.shape == noise.shape
        with pytest.raises(Exception, match="without its text encoder"):
            gen.text_embeddings("walk", 7.5, 1)


def test_dpmpp_sampler_is_an_option_deterministic_per_seed_and_not_the_default():
    gen = _generator("tiny_temporal", "motion_mamba")
    assert gen.sampler == "ddim"
    ddim = gen.generate("a person waves", 1.0, seed=3, steps=6, device="cpu", foot_cleanup=False)
    first = gen.generate("a person waves", 1.0, seed=3, steps=6, device="cpu", foot_cleanup=False, sampler="dpmpp_2m")
    again = gen.generate("a person waves", 1.0, seed=3, steps=6, device="cpu", foot_cleanup=False, sampler="dpmpp_2m")
    assert gen.sampler == "ddim"  # the keyword sets it for that call only
    assert first.info["sampler"] == "dpmpp_2m" and ddim.info["sampler"] == "ddim"
    np.testing.assert_array_equal(first.joints, again.joints)
    assert not np.allclose(first.joints, ddim.joints)
    with pytest.raises(MotionError, match="sampler must be one of ddim, dpmpp_2m"):
        gen.generate("a person waves", 1.0, seed=3, steps=6, device="cpu", sampler="euler")


def test_dpmpp_with_many_steps_matches_ddim_with_many_steps():
    """Both integrate the same ODE: on a tiny random model (a stiff ODE: outputs up to 44), 200 steps of each agree
    to 0.6% of the scale, 3.5x closer than at 6 steps (the exact-solution check is in test_diffusion)."""
    gen = _generator("tiny_temporal", "motion_mamba")
    noise = torch.randn(1, *gen.vae.latent_shape(20), generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        text_emb = gen.text_embeddings("a person waves", 2.0, 1)
        out = {}
        for sampler in ("ddim", "dpmpp_2m"):
            gen.sampler = sampler
            for steps in (6, 200):
                out[sampler, steps] = gen.sample_embeddings(text_emb, noise, steps, 2.0).clone()
    gen.sampler = "ddim"
    gap = {steps: float((out["ddim", steps] - out["dpmpp_2m", steps]).abs().max()) for steps in (6, 200)}
    scale = float(out["ddim", 200].abs().max())
    assert gap[200] < 0.01 * scale and gap[200] < 0.5 * gap[6], (gap, scale)  # measured 0.26, 0.93 at scale 44
