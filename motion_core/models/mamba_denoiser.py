"""Motion Mamba denoiser (Zhang et al., ECCV 2024): a symmetric U-Net of HTM -> BSM levels around an attention mixer.

Tokens: [time, text, z_1 .. z_latent_size], each of width d (256), plus a learned position per token. The condition
tokens come first because HTM scans causally along the token axis: only tokens after the condition can read it.

    encoder level i (i = 1..N, top to bottom):  x += HTM_i(LN(x))  with 2(N-i)+1 parallel SSM branches
                                                x += BSM_i(LN(x))  scanning the d channels, both directions
    mixer:                                      pre-norm transformer layer over the tokens
    decoder level j (j = 1..N, bottom to top):  x = fuse(x, skip of encoder level N+1-j), then HTM (2j-1 branches)
                                                and BSM as in the encoder
    output:                                     LN -> Linear on the latent tokens = predicted noise

HTM is `motion_core.ssm.blocks.MultiBranchMamba` (branches grouped into one scan), BSM is
`motion_core.ssm.blocks.BidirectionalMamba` run on the transposed tokens: sequence = d channels, width = token count
("latent poses" scanned as a structured skeleton, Alg. 2). Config defaults and the ambiguities they settle:
motion_core/models/config.py.

Temporal latents (the shipped default, see conv_vae.py): z_t has n <= latent_size tokens of latent_dim channels,
projected to the model width; HTM's odd branches scan the latent tokens backwards (`htm_directions="alternate"`),
and BSM's token slots beyond n stay zero.

On CUDA without gradients (generation), each level's two halves run on the fused blocks of
`motion_core.ssm.fused_block` (four kernels a half instead of about thirty; same numbers within 1e-4).

Interface (shared with the MLD baseline):
    forward(z_t (B, n, latent_dim), timesteps (B,), text_emb (B, text_dim)) -> predicted noise (B, n, latent_dim)
    forward_tokens(z_t, time_tok (B, 1, d), text_tok (B, 1, d)) -> the same, with condition tokens precomputed
"""

import inspect

import torch
import torch.nn.functional as F
from torch import nn

from motion_core.models.config import ConfigError, MambaDenoiserConfig
from motion_core.models.layers import ConditionEmbedding, FeedForward, SelfAttention
from motion_core.ssm import fused_block
from motion_core.ssm.blocks import BidirectionalMamba, MultiBranchMamba


def _build_block(block_cls, d_model, **kwargs):
    """Build an ssm block, passing only the options its signature accepts; a non-default option it lacks is an error."""
    params = inspect.signature(block_cls).parameters
    accepts_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    usable = {}
    for key, value in kwargs.items():
        if accepts_any or key in params:
            usable[key] = value
        elif key == "aggregation" and value == "sum":
            continue  # the block's own aggregation is a sum
        else:
            raise ConfigError(f"{block_cls.__name__} does not support {key}={value!r}")
    return block_cls(d_model, **usable)


class MixerLayer(nn.Module):
    """The bottleneck's "transformer-based attention mixer": pre-norm self-attention + feed-forward over the tokens."""

    def __init__(self, d_model, num_heads, ff_size, dropout):
        super().__init__()
        self.norm1, self.norm2 = nn.LayerNorm(d_model), nn.LayerNorm(d_model)
        self.attn = SelfAttention(d_model, num_heads, dropout)
        self.ff = FeedForward(d_model, ff_size, dropout)

    def forward(self, x):
        x = x + self.attn(self.norm1(x))
        return x + self.ff(self.norm2(x))


class MotionMambaLevel(nn.Module):
    """One U-Net level: HTM over the token axis, then BSM over the channel axis, each pre-norm with a residual."""

    def __init__(self, config: MambaDenoiserConfig, tokens, branches):
        super().__init__()
        c = config
        d = c.width or c.latent_dim
        self.tokens = tokens
        self.htm_norm = nn.LayerNorm(d)
        directions = {} if c.htm_directions == "forward" else {"directions": c.htm_directions, "keep_prefix": 2}
        self.htm = _build_block(MultiBranchMamba, d, branches=branches, d_state=c.d_state, d_conv=c.d_conv,
                                expand=c.expand, aggregation=c.aggregation, **directions)
        self.bsm_norm = nn.LayerNorm(d)
        self.bsm = _build_block(BidirectionalMamba, tokens, d_state=c.d_state, d_conv=c.d_conv, expand=c.bsm_expand)

    def forward(self, x):
        """x: (B, n, d) with n <= tokens -> (B, n, d)."""
        if fused_block.usable(self.htm, x) and fused_block.usable(self.bsm, x):  # CUDA inference: 4 kernels a half
            return fused_block.level_bsm(self.bsm_norm, self.bsm, fused_block.level_htm(self.htm_norm, self.htm, x))
        n = x.shape[1]
        x = x + self.htm(self.htm_norm(x))
        channels_as_sequence = self.bsm_norm(x).transpose(1, 2)  # (B, d, n): scan runs over the d channels
        if n < self.tokens:
            # BSM's features are the token slots; a shorter temporal latent leaves the last slots at zero, which
            # its bias-free input projection ignores exactly.
            channels_as_sequence = F.pad(channels_as_sequence, (0, self.tokens - n))
        return x + self.bsm(channels_as_sequence)[..., :n].transpose(1, 2)


class MotionMambaDenoiser(nn.Module):
    def __init__(self, config: MambaDenoiserConfig):
        super().__init__()
        self.config = c = config
        d = c.width or c.latent_dim
        tokens = c.latent_size + 2
        self.cond = ConditionEmbedding(d, c.text_dim, c.dropout)
        self.pos = nn.Parameter(torch.randn(tokens, d) * 0.02)
        self.encoder = nn.ModuleList([MotionMambaLevel(c, tokens, k) for k in c.encoder_branches()])
        self.mixer = MixerLayer(d, c.mixer_heads, c.mixer_ff_size, c.dropout)
        self.decoder = nn.ModuleList([MotionMambaLevel(c, tokens, k) for k in c.decoder_branches()])
        self.skip_fuse = nn.ModuleList(
            [nn.Linear(2 * d, d) for _ in range(c.levels)] if c.skip == "concat_linear" else []
        )
        self.out_norm = nn.LayerNorm(d)
        self.out = nn.Linear(d, c.latent_dim)
        # A temporal latent's few channels are projected to the model width; the paper's tokens are used as they are.
        self.latent_in = nn.Linear(c.latent_dim, d) if d != c.latent_dim else nn.Identity()

    def forward_tokens(self, z_t, time_tok, text_tok):
        n = z_t.shape[1]  # latent_size, or fewer for a temporal latent of a shorter motion
        x = torch.cat([time_tok, text_tok, self.latent_in(z_t)], dim=1) + self.pos[:n + 2]  # (B, 2 + n, d)
        skips = []
        for level in self.encoder:
            x = level(x)
            skips.append(x)
        x = self.mixer(x)
        for j, level in enumerate(self.decoder):
            skip = skips.pop()
            x = self.skip_fuse[j](torch.cat([x, skip], dim=-1)) if self.skip_fuse else x + skip
            x = level(x)
        return self.out(self.out_norm(x[:, 2:]))

    def forward(self, z_t, timesteps, text_emb):
        return self.forward_tokens(z_t, self.cond.time_token(timesteps), self.cond.text_token(text_emb))
