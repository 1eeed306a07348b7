"""DDPM schedule, DDIM sampler and guidance: exact small schedules and an oracle denoising loop."""

import math

import pytest
import torch

from motion_core.diffusion import DDIMScheduler, NoiseSchedule, guided_eps
from motion_core.models.config import DiffusionConfig


def test_scaled_linear_betas_are_linear_in_sqrt_beta():
    schedule = NoiseSchedule()
    betas = schedule.betas
    assert betas.shape == (1000,)
    assert math.isclose(float(betas[0]), 0.00085, rel_tol=1e-12)
    assert math.isclose(float(betas[-1]), 0.012, rel_tol=1e-12)
    # midpoint of the sqrt-linear ramp (index 999/2 is not an integer; check index 333 by hand)
    expected = (0.00085 ** 0.5 + (0.012 ** 0.5 - 0.00085 ** 0.5) * 333 / 999) ** 2
    assert math.isclose(float(betas[333]), expected, rel_tol=1e-12)
    alpha_bar_2 = (1 - float(betas[0])) * (1 - float(betas[1])) * (1 - float(betas[2]))
    assert math.isclose(float(schedule.alphas_cumprod[2]), alpha_bar_2, rel_tol=1e-12)


def test_ddim_timesteps_use_leading_spacing_with_offset_one():
    scheduler = DDIMScheduler(NoiseSchedule())
    steps = scheduler.set_timesteps(50)
    assert steps[:5].tolist() == [981, 961, 941, 921, 901]
    assert steps[-3:].tolist() == [41, 21, 1]
    assert DDIMScheduler(NoiseSchedule()).set_timesteps(4).tolist() == [751, 501, 251, 1]


def test_step_before_set_timesteps_is_an_error():
    with pytest.raises(RuntimeError, match="set_timesteps"):
        DDIMScheduler(NoiseSchedule()).step(torch.zeros(1), 0, torch.zeros(1))
    with pytest.raises(ValueError, match="num_steps"):
        DDIMScheduler(NoiseSchedule()).set_timesteps(0)


def test_add_noise_matches_the_forward_process():
    schedule = NoiseSchedule()
    x0, noise = torch.randn(2, 2, 8), torch.randn(2, 2, 8)
    t = torch.tensor([10, 900])
    xt = schedule.add_noise(x0, noise, t)
    for i in range(2):
        abar = float(schedule.alphas_cumprod[t[i]])
        torch.testing.assert_close(xt[i], abar ** 0.5 * x0[i] + (1 - abar) ** 0.5 * noise[i])


@pytest.mark.parametrize("steps", [50, 7])
def test_ddim_with_an_oracle_denoiser_lands_on_the_clean_sample(steps):
    """With the true noise as the prediction, each eta=0 step keeps x on the line sqrt(a) x0 + sqrt(1-a) eps."""
    torch.manual_seed(0)
    schedule = NoiseSchedule()
    scheduler = DDIMScheduler(schedule)
    scheduler.set_timesteps(steps)
    x0 = torch.randn(4, 2, 16, dtype=torch.float64)
    eps = torch.randn_like(x0)
    x = schedule.add_noise(x0, eps, scheduler.timesteps[:1].expand(4))
    for i in range(steps):
        torch.testing.assert_close(scheduler.predict_x0(eps, i, x), x0)
        x = scheduler.step(eps, i, x)
    abar0 = float(schedule.alphas_cumprod[0])
    torch.testing.assert_close(x, abar0 ** 0.5 * x0 + (1 - abar0) ** 0.5 * eps)


def test_guidance_combines_the_two_halves():
    eps_u, eps_c = torch.randn(3, 2, 4), torch.randn(3, 2, 4)
    pair = torch.cat([eps_u, eps_c])
    torch.testing.assert_close(guided_eps(pair, 7.5), eps_u + 7.5 * (eps_c - eps_u))
    torch.testing.assert_close(guided_eps(pair, 1.0), eps_c)
    torch.testing.assert_close(guided_eps(pair, torch.tensor(0.0)), eps_u)


class _RecordingDenoiser(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.scale = torch.nn.Parameter(torch.ones(()))
        self.seen_text = None

    def forward(self, z_t, timesteps, text_emb):
        self.seen_text = text_emb.detach().clone()
        return z_t * self.scale


def test_training_loss_drops_text_for_guidance_and_backpropagates():
    schedule = NoiseSchedule(DiffusionConfig())
    denoiser = _RecordingDenoiser()
    latents, text = torch.randn(8, 2, 4), torch.randn(8, 6)
    uncond = torch.full((6,), 7.0)
    loss = schedule.training_loss(denoiser, latents, text, uncond, uncond_prob=1.0)
    assert loss.ndim == 0 and torch.isfinite(loss)
    assert torch.all(denoiser.seen_text == 7.0)
    loss.backward()
    assert denoiser.scale.grad is not None
    schedule.training_loss(denoiser, latents, text, uncond, uncond_prob=0.0)
    torch.testing.assert_close(denoiser.seen_text, text)
