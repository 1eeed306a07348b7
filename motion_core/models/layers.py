"""Transformer pieces shared by the motion VAE, the MLD baseline and the Motion Mamba mixer.

Shapes: tokens are batch-first, (B, L, d). A `key_mask` is (B, L) bool, True where a token is real (not padding).
Attention goes through `F.scaled_dot_product_attention` with one fused qkv projection: fewer kernels per layer,
which is what matters at these sizes (L = 4 tokens in the denoisers).
"""

import math

import torch
import torch.nn.functional as F
from torch import nn


class SelfAttention(nn.Module):
    def __init__(self, d_model, num_heads, dropout=0.0):
        super().__init__()
        if d_model % num_heads:
            raise ValueError(f"d_model {d_model} is not divisible by num_heads {num_heads}")
        self.num_heads = num_heads
        self.dropout = dropout
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.out = nn.Linear(d_model, d_model)

    def forward(self, x, key_mask=None):
        """x: (B, L, d); key_mask: (B, L) bool or None -> (B, L, d)."""
        B, L, d = x.shape
        q, k, v = self.qkv(x).view(B, L, 3, self.num_heads, d // self.num_heads).permute(2, 0, 3, 1, 4)  # 3 x (B, h, L, hd)
        mask = None if key_mask is None else key_mask[:, None, None, :]  # (B, 1, 1, L), True = attend
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=self.dropout if self.training else 0.0)
        return self.out(y.transpose(1, 2).reshape(B, L, d))


class CrossAttention(nn.Module):
    def __init__(self, d_model, num_heads, dropout=0.0):
        super().__init__()
        self.num_heads = num_heads
        self.dropout = dropout
        self.q = nn.Linear(d_model, d_model)
        self.kv = nn.Linear(d_model, 2 * d_model)
        self.out = nn.Linear(d_model, d_model)

    def forward(self, x, memory):
        """x: (B, L, d) queries; memory: (B, M, d) -> (B, L, d)."""
        B, L, d = x.shape
        M = memory.shape[1]
        h, hd = self.num_heads, d // self.num_heads
        q = self.q(x).view(B, L, h, hd).transpose(1, 2)
        k, v = self.kv(memory).view(B, M, 2, h, hd).permute(2, 0, 3, 1, 4)
        y = F.scaled_dot_product_attention(q, k, v, dropout_p=self.dropout if self.training else 0.0)
        return self.out(y.transpose(1, 2).reshape(B, L, d))


class FeedForward(nn.Sequential):
    def __init__(self, d_model, ff_size, dropout=0.0):
        super().__init__(nn.Linear(d_model, ff_size), nn.GELU(), nn.Dropout(dropout), nn.Linear(ff_size, d_model))


class EncoderLayer(nn.Module):
    """Post-norm transformer encoder layer (MLD's `normalize_before: false`)."""

    def __init__(self, d_model, num_heads, ff_size, dropout):
        super().__init__()
        self.attn = SelfAttention(d_model, num_heads, dropout)
        self.ff = FeedForward(d_model, ff_size, dropout)
        self.norm1, self.norm2 = nn.LayerNorm(d_model), nn.LayerNorm(d_model)
        self.drop = nn.Dropout(dropout)

    def forward(self, x, key_mask=None, memory=None):
        x = self.norm1(x + self.drop(self.attn(x, key_mask)))
        return self.norm2(x + self.drop(self.ff(x)))


class DecoderLayer(nn.Module):
    """Post-norm transformer decoder layer: self-attention over frames, cross-attention to the latent tokens."""

    def __init__(self, d_model, num_heads, ff_size, dropout):
        super().__init__()
        self.attn = SelfAttention(d_model, num_heads, dropout)
        self.cross = CrossAttention(d_model, num_heads, dropout)
        self.ff = FeedForward(d_model, ff_size, dropout)
        self.norm1, self.norm2, self.norm3 = nn.LayerNorm(d_model), nn.LayerNorm(d_model), nn.LayerNorm(d_model)
        self.drop = nn.Dropout(dropout)

    def forward(self, x, key_mask=None, memory=None):
        x = self.norm1(x + self.drop(self.attn(x, key_mask)))
        x = self.norm2(x + self.drop(self.cross(x, memory)))
        return self.norm3(x + self.drop(self.ff(x)))


class SkipTransformer(nn.Module):
    """MLD's skip transformer: (n-1)/2 input layers, a middle layer, (n-1)/2 output layers.

    Output layer j first fuses the input layer's output of the mirrored depth: x = Linear(cat(x, skip)) (2d -> d),
    U-Net style. `decoder=True` uses cross-attending layers (the VAE decoder).
    """

    def __init__(self, d_model, num_layers, num_heads, ff_size, dropout, decoder=False):
        super().__init__()
        if num_layers % 2 != 1:
            raise ValueError(f"num_layers must be odd, got {num_layers}")
        layer = DecoderLayer if decoder else EncoderLayer
        half = (num_layers - 1) // 2
        self.input_blocks = nn.ModuleList([layer(d_model, num_heads, ff_size, dropout) for _ in range(half)])
        self.middle_block = layer(d_model, num_heads, ff_size, dropout)
        self.output_blocks = nn.ModuleList([layer(d_model, num_heads, ff_size, dropout) for _ in range(half)])
        self.skip_fuse = nn.ModuleList([nn.Linear(2 * d_model, d_model) for _ in range(half)])
        self.norm = nn.LayerNorm(d_model)

    def forward(self, x, key_mask=None, memory=None):
        """x: (B, L, d); key_mask: (B, L) bool or None; memory: (B, M, d) for the decoder -> (B, L, d)."""
        skips = []
        for block in self.input_blocks:
            x = block(x, key_mask, memory)
            skips.append(x)
        x = self.middle_block(x, key_mask, memory)
        for block, fuse in zip(self.output_blocks, self.skip_fuse):
            x = block(fuse(torch.cat([x, skips.pop()], dim=-1)), key_mask, memory)
        return self.norm(x)


def timestep_sinusoid(timesteps, dim, max_period=10000.0):
    """Sinusoidal timestep features, cos first (diffusers' flip_sin_to_cos=True, freq_shift=0, as MLD uses).

    timesteps: (B,) int or float -> (B, dim) float32.
    """
    half = dim // 2
    exponent = -math.log(max_period) * torch.arange(half, dtype=torch.float32, device=timesteps.device) / half
    angles = timesteps.float()[:, None] * torch.exp(exponent)[None, :]
    return torch.cat([torch.cos(angles), torch.sin(angles)], dim=-1)


class ConditionEmbedding(nn.Module):
    """Time and text condition tokens, shared by both denoisers so their comparison is fair.

    time: sinusoid(d) -> Linear -> SiLU -> Linear (diffusers' TimestepEmbedding, as in MLD).
    text: Linear(text_dim -> d) on the MiniLM sentence embedding (MLD applies ReLU first because CLIP's pooled
    feature is what it is; MiniLM's L2-normalised embedding has signed coordinates worth keeping).
    """

    def __init__(self, d_model, text_dim, dropout=0.0):
        super().__init__()
        self.d_model = d_model
        self.time_mlp = nn.Sequential(nn.Linear(d_model, d_model), nn.SiLU(), nn.Linear(d_model, d_model))
        self.text_proj = nn.Sequential(nn.Linear(text_dim, d_model), nn.Dropout(dropout))

    def time_token(self, timesteps):
        """timesteps: (B,) -> (B, 1, d)."""
        return self.time_mlp(timestep_sinusoid(timesteps, self.d_model))[:, None, :]

    def text_token(self, text_emb):
        """text_emb: (B, text_dim) -> (B, 1, d)."""
        return self.text_proj(text_emb)[:, None, :]
