"""MLD's denoiser (Chen et al., CVPR 2023), the baseline: a skip transformer over [latent tokens, time, text].

Same interface as the Motion Mamba denoiser, so the sampler, trainer and benchmark treat them alike:
    forward(z_t (B, latent_size, d), timesteps (B,), text_emb (B, text_dim)) -> predicted noise (B, latent_size, d)
    forward_tokens(z_t, time_tok (B, 1, d), text_tok (B, 1, d)) -> the same, with condition tokens precomputed
    cond.time_token(timesteps), cond.text_token(text_emb) -> the condition tokens
"""

import torch
from torch import nn

from motion_core.models.config import MLDDenoiserConfig
from motion_core.models.layers import ConditionEmbedding, SkipTransformer


class MLDDenoiser(nn.Module):
    def __init__(self, config: MLDDenoiserConfig):
        super().__init__()
        self.config = c = config
        self.cond = ConditionEmbedding(c.latent_dim, c.text_dim, c.dropout)
        self.pos = nn.Parameter(torch.randn(c.latent_size + 2, c.latent_dim) * 0.02)
        self.transformer = SkipTransformer(c.latent_dim, c.num_layers, c.num_heads, c.ff_size, c.dropout)

    def forward_tokens(self, z_t, time_tok, text_tok):
        x = torch.cat([z_t, time_tok, text_tok], dim=1) + self.pos  # (B, latent_size + 2, d)
        return self.transformer(x)[:, : self.config.latent_size]

    def forward(self, z_t, timesteps, text_emb):
        return self.forward_tokens(z_t, self.cond.time_token(timesteps), self.cond.text_token(text_emb))
