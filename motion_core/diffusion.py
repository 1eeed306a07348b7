"""Latent diffusion: the DDPM noise schedule (training) and the DDIM sampler (generation), one schedule for both.

Notation (Ho et al. 2020; Song et al., DDIM, 2021): x_t the noisy latent at timestep t, epsilon the noise,
alpha_bar_t = prod_{s<=t} (1 - beta_s) (`alphas_cumprod`). Forward process (DDPM eq. 4):
    x_t = sqrt(alpha_bar_t) x_0 + sqrt(1 - alpha_bar_t) epsilon.
The denoiser predicts epsilon. DDIM with eta = 0 (DDIM eq. 12, sigma_t = 0) is deterministic:
    x0_hat = (x_t - sqrt(1 - alpha_bar_t) eps) / sqrt(alpha_bar_t)
    x_prev = sqrt(alpha_bar_prev) x0_hat + sqrt(1 - alpha_bar_prev) eps
Classifier-free guidance: eps = eps_uncond + w (eps_cond - eps_uncond), both halves in one batched denoiser call.

An optional faster sampler, DPM-Solver++(2M) (Lu et al. 2022, "DPM-Solver++", Alg. 2, multistep second order),
integrates the same probability-flow ODE on the same timesteps: `make_scheduler(schedule, "dpmpp_2m")`. It is not the
default (the paper and MLD use DDIM 50); it exists to reach a motion in fewer denoiser calls (10-20).

Settings (MLD configs/modules/scheduler.yaml): 1000 training steps, scaled_linear beta 0.00085 -> 0.012, DDIM 50 steps
with diffusers' "leading" spacing and steps_offset 1 (timesteps 981, 961, ..., 1), set_alpha_to_one False (the last
step lands on alpha_bar_0, not 1).
"""

import torch
import torch.nn.functional as F

from motion_core.models.config import DiffusionConfig
from motion_core.motion.protocol import DEFAULT_SAMPLER, SAMPLERS


class NoiseSchedule:
    """beta_t and alpha_bar_t for t = 0..num_train_timesteps-1, computed once in float64."""

    def __init__(self, config: DiffusionConfig = None):
        self.config = c = config or DiffusionConfig()
        n = c.num_train_timesteps
        if c.beta_schedule == "scaled_linear":  # linear in sqrt(beta), as Stable Diffusion and MLD
            betas = torch.linspace(c.beta_start ** 0.5, c.beta_end ** 0.5, n, dtype=torch.float64) ** 2
        elif c.beta_schedule == "linear":
            betas = torch.linspace(c.beta_start, c.beta_end, n, dtype=torch.float64)
        else:
            raise ValueError(f"beta_schedule must be 'scaled_linear' or 'linear', got {c.beta_schedule!r}")
        self.num_train_timesteps = n
        self.betas = betas
        self.alphas_cumprod = torch.cumprod(1.0 - betas, dim=0)  # alpha_bar_t, float64

    def add_noise(self, x0, noise, timesteps):
        """x_t = sqrt(alpha_bar_t) x0 + sqrt(1 - alpha_bar_t) noise.  x0, noise: (B, ...); timesteps: (B,) long."""
        abar = self.alphas_cumprod.to(x0.device)[timesteps].to(x0.dtype)
        abar = abar.reshape(-1, *([1] * (x0.dim() - 1)))
        return abar.sqrt() * x0 + (1.0 - abar).sqrt() * noise

    def training_loss(self, denoiser, latents, text_emb, uncond_emb, uncond_prob=None, generator=None):
        """DDPM epsilon-prediction loss with classifier-free-guidance text dropout (the denoiser's training API).

        latents: (B, latent_size, d) clean VAE latents (MLD samples them from the frozen encoder's posterior);
        text_emb: (B, text_dim) caption embeddings; uncond_emb: (text_dim,) or (1, text_dim) embedding of "".
        A fraction `uncond_prob` (default config.uncond_prob = 0.1) of captions is replaced by "" so the same
        network also learns the unconditional prediction. Returns the scalar MSE(eps_pred, eps).
        """
        p = self.config.uncond_prob if uncond_prob is None else uncond_prob
        B = latents.shape[0]
        device = latents.device
        t = torch.randint(0, self.num_train_timesteps, (B,), device=device, generator=generator)
        noise = torch.randn(latents.shape, device=device, dtype=latents.dtype, generator=generator)
        drop = torch.rand(B, device=device, generator=generator) < p
        cond = torch.where(drop[:, None], uncond_emb.reshape(1, -1).to(text_emb), text_emb)
        eps = denoiser(self.add_noise(latents, noise, t), t, cond)
        return F.mse_loss(eps, noise)


class DDIMScheduler:
    """DDIM sampler over a NoiseSchedule: `set_timesteps(n)`, then `step(eps, i, x)` for i = 0..n-1.

    Every per-step value is read from arrays precomputed in `set_timesteps` (never recomputed from a stride).
    eta is 0 (DiffusionConfig.eta; the config rejects any other value).
    """

    def __init__(self, schedule: NoiseSchedule):
        self.schedule = schedule
        self.timesteps = None

    def set_timesteps(self, num_steps):
        """Build `timesteps` (num_steps,) long, descending, and the per-step DDIM coefficients."""
        n_train = self.schedule.num_train_timesteps
        if not 1 <= num_steps <= n_train:
            raise ValueError(f"num_steps must be in 1..{n_train}, got {num_steps}")
        offset = self.schedule.config.steps_offset
        stride = n_train // num_steps
        # 1. "leading" spacing: 0, stride, 2*stride, ... shifted by steps_offset, then reversed (noisiest first)
        timesteps = (torch.arange(num_steps, dtype=torch.long) * stride + offset).flip(0).clamp(max=n_train - 1)
        abar = self.schedule.alphas_cumprod
        # 2. alpha_bar at each step and at the step it moves to; the last step moves to alpha_bar_0 (set_alpha_to_one
        #    False, as MLD)
        abar_t = abar[timesteps]
        abar_prev = torch.cat([abar[timesteps[1:]], abar[:1]])
        # 3. x_prev = c_x x_t + c_eps eps, the DDIM eta=0 update folded into two numbers per step (float64 -> float32)
        self.coef_x = (abar_prev / abar_t).sqrt()
        self.coef_eps = (1.0 - abar_prev).sqrt() - (abar_prev * (1.0 - abar_t) / abar_t).sqrt()
        self.abar_t, self.abar_prev = abar_t, abar_prev
        self.timesteps = timesteps
        self.coef_x_list = [float(v) for v in self.coef_x]
        self.coef_eps_list = [float(v) for v in self.coef_eps]
        return timesteps

    def step(self, eps, index, sample):
        """One DDIM step (eta = 0, DDIM eq. 12). eps, sample: (B, ...) at timesteps[index] -> x_prev (B, ...).

        The sampler's only update: two multiply-adds with Python-float coefficients, so a CUDA graph of the loop
        bakes them in and no per-step tensor is read. `predict_x0` gives x0_hat when a caller wants it.
        """
        self._check_ready()
        return sample * self.coef_x_list[index] + eps * self.coef_eps_list[index]

    def predict_x0(self, eps, index, sample):
        """x0_hat = (x_t - sqrt(1 - alpha_bar_t) eps) / sqrt(alpha_bar_t) at timesteps[index] (DDIM eq. 12's
        "predicted x_0"). eps, sample: (B, ...) -> (B, ...)."""
        self._check_ready()
        abar_t = float(self.abar_t[index])
        return (sample - (1.0 - abar_t) ** 0.5 * eps) / abar_t ** 0.5

    def _check_ready(self):
        if self.timesteps is None:
            raise RuntimeError("call set_timesteps(num_steps) before step()")


class DPMSolverMultistepScheduler(DDIMScheduler):
    """DPM-Solver++(2M) over a NoiseSchedule (Lu et al. 2022, arXiv 2211.01095, Alg. 2), same interface as DDIM.

    Notation: alpha_t = sqrt(alpha_bar_t), sigma_t = sqrt(1 - alpha_bar_t), lambda_t = log(alpha_t / sigma_t) (the
    half log-SNR), x0_i the data prediction at step i, h_i = lambda_{i+1} - lambda_i. One step from t_i to t_{i+1}:
        x0_i  = (x_i - sigma_i eps_i) / alpha_i
        D_i   = (1 + 1 / (2 r_i)) x0_i - 1 / (2 r_i) x0_{i-1},   r_i = h_{i-1} / h_i      (second order, eq. in Alg. 2)
        D_i   = x0_i                                            (first order: the first step, and the last one when
                                                                 fewer than 15 steps, diffusers' lower_order_final)
        x_{i+1} = (sigma_{i+1} / sigma_i) x_i - alpha_{i+1} (exp(-h_i) - 1) D_i
    Timesteps and the final target are DDIM's (leading spacing, last step to alpha_bar_0), so with many steps both
    samplers reach the same ODE solution. `step` must be called for index 0, 1, ... in order: it keeps x0_{i-1}.
    """

    LOWER_ORDER_FINAL_BELOW = 15  # diffusers: a first-order last step keeps few-step sampling stable

    def set_timesteps(self, num_steps):
        """Build `timesteps` and the per-step coefficients of the update above (float64 -> Python floats)."""
        timesteps = super().set_timesteps(num_steps)
        abar_t, abar_prev = self.abar_t, self.abar_prev
        alpha_t, sigma_t = abar_t.sqrt(), (1.0 - abar_t).sqrt()
        alpha_n, sigma_n = abar_prev.sqrt(), (1.0 - abar_prev).sqrt()
        h = torch.log(alpha_n / sigma_n) - torch.log(alpha_t / sigma_t)  # (num_steps,), > 0
        # 1. data prediction: x0 = x / alpha_t - (sigma_t / alpha_t) eps
        self.x0_x = [float(v) for v in 1.0 / alpha_t]
        self.x0_eps = [float(v) for v in -sigma_t / alpha_t]
        # 2. the first-order update: x_next = c_x x + c_d D
        self.dpm_x = [float(v) for v in sigma_n / sigma_t]
        self.dpm_d = [float(v) for v in -alpha_n * torch.expm1(-h)]
        # 3. D = w_cur x0_i + w_prev x0_{i-1}: (1, 0) on first-order steps
        self.w_cur, self.w_prev = [1.0] * num_steps, [0.0] * num_steps
        last_second_order = num_steps - 1 if num_steps >= self.LOWER_ORDER_FINAL_BELOW else num_steps - 2
        for i in range(1, last_second_order + 1):
            r = float(h[i - 1] / h[i])
            self.w_cur[i], self.w_prev[i] = 1.0 + 0.5 / r, -0.5 / r
        self._x0_prev = None
        return timesteps

    def step(self, eps, index, sample):
        """One DPM-Solver++(2M) step. eps, sample: (B, ...) at timesteps[index] -> x at the next timestep (B, ...)."""
        self._check_ready()
        x0 = sample * self.x0_x[index] + eps * self.x0_eps[index]
        if self.w_prev[index] != 0.0:
            if self._x0_prev is None:
                raise RuntimeError("DPM-Solver++ steps must run in order from index 0 (no previous prediction)")
            d = x0 * self.w_cur[index] + self._x0_prev * self.w_prev[index]
        else:
            d = x0
        self._x0_prev = x0
        return sample * self.dpm_x[index] + d * self.dpm_d[index]


_SCHEDULERS = {"ddim": DDIMScheduler, "dpmpp_2m": DPMSolverMultistepScheduler}  # keys: protocol.SAMPLERS


def make_scheduler(schedule: NoiseSchedule, sampler=DEFAULT_SAMPLER):
    """The sampler named `sampler` ("ddim", the default, or "dpmpp_2m") over `schedule`; set_timesteps not yet called."""
    if sampler not in _SCHEDULERS:
        raise ValueError(f"sampler must be one of {', '.join(SAMPLERS)}, got {sampler!r}")
    return _SCHEDULERS[sampler](schedule)


def guided_eps(eps_pair, guidance):
    """eps_pair: (2B, ...) = [uncond; cond] from one batched call -> eps_u + w (eps_c - eps_u), (B, ...).

    `guidance` may be a float or a 0-d tensor (a CUDA-graph input).
    """
    eps_u, eps_c = eps_pair.chunk(2)
    return eps_u + guidance * (eps_c - eps_u)
