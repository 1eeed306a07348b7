"""Temporal motion VAE: 1-D convolutions that keep time, ⌈T/4⌉ latent tokens of `latent_dim` channels.

Why it exists: the paper's [2, 256] latent (`motion_core.models.vae.MotionVAE`) squeezes a whole clip into two
tokens, and its round trip erases steps, waves and claps (design.md, "Model defaults"). Downsampling time only four
times keeps one token per 0.2 s, so fast periodic content survives, the denoiser's temporal scan (HTM) runs over real
time steps, and the latent length follows the motion's length.

    encoder: Conv(263 -> W) -> per stage [ResBlocks, Conv stride 2] x 2 -> ResBlocks -> Conv(W -> 2C) = mu, logvar
    decoder: Conv(C -> W) -> ResBlocks -> per stage [nearest x2, Conv, ResBlocks] x 2 -> Conv(W -> 263)
    ResBlock: x + Conv1x1(SiLU(Conv3_dilated(SiLU(Norm(x))))), dilations 1, 3, 9; Norm is a LayerNorm over the
    channels of each time step

Padding never leaks: activations are multiplied by the frame mask of their resolution after every convolution, so
the zeros past a clip's end are exactly the zero padding a convolution sees at a sequence end. A padded batch
therefore gives the same real frames as each clip alone (tests check it). Normalisation is per time step for the
same reason (batch or group statistics over time would mix in the padding).

Shapes: features (B, T, 263) normalised <-> z (B, ceil(T / 4), latent_dim).
"""

import math

import torch
import torch.nn.functional as F
from torch import nn

from motion_core.models.config import VAEConfig
from motion_core.models.vae import FeatureVAE, lengths_to_mask


class ChannelNorm(nn.LayerNorm):
    """LayerNorm over the channels of each time step of a (B, W, T) tensor: it never mixes time steps, so padding
    cannot leak through it."""

    def forward(self, x):
        return super().forward(x.transpose(1, 2)).transpose(1, 2)


class ResidualConvBlock(nn.Module):
    """Pre-norm residual block: x + Conv1x1(SiLU(Conv3_dilated(SiLU(Norm(x)))))."""

    def __init__(self, width, dilation):
        super().__init__()
        self.norm = ChannelNorm(width)
        self.conv = nn.Conv1d(width, width, 3, padding=dilation, dilation=dilation)
        self.mix = nn.Conv1d(width, width, 1)
        # Each block starts as the identity, so a deep stack without normalisation layers trains stably.
        nn.init.zeros_(self.mix.weight)
        nn.init.zeros_(self.mix.bias)

    def forward(self, x, mask):
        """x (B, W, T), mask (B, 1, T) float -> same shape, zero where mask is 0."""
        h = self.conv(F.silu(self.norm(x))) * mask
        return x + self.mix(F.silu(h)) * mask


class ResidualStack(nn.Module):
    def __init__(self, width, blocks):
        super().__init__()
        self.blocks = nn.ModuleList([ResidualConvBlock(width, 3 ** (i % 3)) for i in range(blocks)])

    def forward(self, x, mask):
        for block in self.blocks:
            x = block(x, mask)
        return x


class ConvMotionVAE(FeatureVAE):
    ENCODER_PREFIXES = ("enc_",)

    def __init__(self, config: VAEConfig):
        super().__init__(config)
        c = config
        W, C, stages = c.conv_width, c.latent_dim, self.stages
        self.enc_in = nn.Conv1d(c.nfeats, W, 3, padding=1)
        self.enc_res = nn.ModuleList([ResidualStack(W, c.res_blocks) for _ in range(stages + 1)])
        self.enc_down = nn.ModuleList([nn.Conv1d(W, W, 4, stride=2, padding=1) for _ in range(stages)])
        self.enc_norm = ChannelNorm(W)
        self.enc_out = nn.Conv1d(W, 2 * C, 3, padding=1)
        self.dec_in = nn.Conv1d(C, W, 3, padding=1)
        self.dec_res = nn.ModuleList([ResidualStack(W, c.res_blocks) for _ in range(stages + 1)])
        self.dec_up = nn.ModuleList([nn.Conv1d(W, W, 3, padding=1) for _ in range(stages)])
        self.dec_norm = ChannelNorm(W)
        self.dec_out = nn.Conv1d(W, c.nfeats, 3, padding=1)

    @property
    def stages(self):
        return int(round(math.log2(self.config.down_factor)))

    def latent_shape(self, frames):
        return math.ceil(frames / self.config.down_factor), self.config.latent_dim

    def _masks(self, lengths, frames):
        """Float masks (B, 1, T_k) for every resolution k = 0 (frames, padded to the factor) .. stages."""
        factor = self.config.down_factor
        padded = math.ceil(frames / factor) * factor
        return [lengths_to_mask(torch.div(lengths + 2 ** k - 1, 2 ** k, rounding_mode="floor"),
                                padded // 2 ** k)[:, None].float() for k in range(self.stages + 1)]

    def encode(self, features, lengths, sample=True):
        """features: (B, T, nfeats) normalised; lengths: (B,) -> z, mu, logvar each (B, ceil(T / 4), latent_dim)."""
        B, T, _ = features.shape
        masks = self._masks(lengths, T)
        x = F.pad(features.transpose(1, 2), (0, masks[0].shape[-1] - T)) * masks[0]  # (B, 263, T padded)
        x = self.enc_in(x) * masks[0]
        for k, down in enumerate(self.enc_down):
            x = self.enc_res[k](x, masks[k])
            x = down(x) * masks[k + 1]
        x = self.enc_res[-1](x, masks[-1])
        mu, logvar = (self.enc_out(self.enc_norm(x)) * masks[-1]).transpose(1, 2).chunk(2, dim=-1)  # 2 x (B, L, C)
        logvar = logvar.clamp(-20.0, 10.0)  # exp(logvar) stays finite in bf16 and fp32
        if not sample:
            return mu, mu, logvar
        z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu) * masks[-1].transpose(1, 2)
        return z, mu, logvar

    def decode(self, z, lengths, frames=None):
        """z: (B, L, latent_dim); lengths: (B,) -> normalised features (B, frames, nfeats), zero past each length."""
        factor = self.config.down_factor
        T = int(lengths.max()) if frames is None else int(frames)
        masks = self._masks(lengths, z.shape[1] * factor)
        x = self.dec_in(z.transpose(1, 2) * masks[-1]) * masks[-1]
        x = self.dec_res[0](x, masks[-1])
        for k, up in enumerate(self.dec_up):
            level = self.stages - 1 - k
            x = up(F.interpolate(x, scale_factor=2.0, mode="nearest")) * masks[level]
            x = self.dec_res[k + 1](x, masks[level])
        out = (self.dec_out(F.silu(self.dec_norm(x))) * masks[0]).transpose(1, 2)  # (B, 4L, nfeats)
        if out.shape[1] < T:
            out = F.pad(out, (0, 0, 0, T - out.shape[1]))
        return out[:, :T]
