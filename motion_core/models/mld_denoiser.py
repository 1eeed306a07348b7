"""MLD's denoiser (Chen et al., CVPR 2023), the baseline: a skip transformer over [latent tokens, time, text].

Same interface as the Motion Mamba denoiser, so the sampler, trainer and benchmark treat them alike:
    forward(z_t (B, n, latent_dim), timesteps (B,), text_emb (B, text_dim)) -> predicted noise (B, n, latent_dim)
    where n = latent_size for the paper's latent and n <= latent_size tokens for a temporal one
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
        d = c.width or c.latent_dim
        self.cond = ConditionEmbedding(d, c.text_dim, c.dropout)
        self.pos = nn.Parameter(torch.randn(c.latent_size + 2, d) * 0.02)  # latent tokens' positions, then time, text
        self.transformer = SkipTransformer(d, c.num_layers, c.num_heads, c.ff_size, c.dropout)
        # A temporal latent's few channels are projected to the model width and back; the paper's tokens are used as is.
        self.latent_in = nn.Linear(c.latent_dim, d) if d != c.latent_dim else nn.Identity()
        self.latent_out = nn.Linear(d, c.latent_dim) if d != c.latent_dim else nn.Identity()

    def forward_tokens(self, z_t, time_tok, text_tok):
        n, size = z_t.shape[1], self.config.latent_size  # n < size for a temporal latent of a shorter motion
        pos = torch.cat([self.pos[:n], self.pos[size:]])
        x = torch.cat([self.latent_in(z_t), time_tok, text_tok], dim=1) + pos  # (B, n + 2, d)
        return self.latent_out(self.transformer(x)[:, :n])

    def forward(self, z_t, timesteps, text_emb):
        return self.forward_tokens(z_t, self.cond.time_token(timesteps), self.cond.text_token(text_emb))
