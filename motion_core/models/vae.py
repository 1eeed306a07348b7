"""Motion VAE (MLD's skip-transformer encoder/decoder): HumanML3D features <-> latent tokens [latent_size, latent_dim].

Encoder: Linear(263 -> d) per frame, two learned "distribution" tokens per latent token (mu and log-variance) are
put in front, a skip transformer reads everything under the frame padding mask, and the first tokens come out as
mu and logvar. Decoder: one learned position query per frame cross-attends to the latent tokens through a skip
transformer, then Linear(d -> 263); padded frames are zeroed. The length is only the number of queries, so any
length up to `max_frames` decodes from the same latent.

Normalisation statistics (HumanML3D Mean/Std) are buffers of this module: they give the decoder's output its
meaning, travel inside vae.safetensors, and the joint loss needs them.

Training API (for motion_core.train):
    loss, logs = vae.training_loss({"features": (B, T, 263) normalised, "lengths": (B,) int})
    `loss` is the scalar to backpropagate; `logs` maps "features", "joints", "kl", "total" to floats.
"""

import torch
import torch.nn.functional as F
from torch import nn

from motion_core.models.config import VAEConfig
from motion_core.models.feature_joints import features_to_joints
from motion_core.models.layers import SkipTransformer


def lengths_to_mask(lengths, max_len):
    """lengths: (B,) int -> (B, max_len) bool, True on real frames."""
    return torch.arange(max_len, device=lengths.device)[None, :] < lengths[:, None]


class FeatureVAE(nn.Module):
    """What every motion VAE shares: the feature statistics, `forward` and the training loss.

    Subclasses give `encode(features, lengths, sample)`, `decode(z, lengths, frames)` and `latent_shape(frames)`.
    """

    def __init__(self, config: VAEConfig):
        super().__init__()
        self.config = config
        self.register_buffer("mean", torch.zeros(config.nfeats))
        self.register_buffer("std", torch.ones(config.nfeats))

    def latent_shape(self, frames):
        """(tokens, channels) of the latent of a `frames`-long motion."""
        raise NotImplementedError

    # ----- normalisation -----
    def set_normalizer(self, mean, std):
        """Store the feature statistics (263,) used by normalize/denormalize and the joint loss."""
        self.mean.copy_(torch.as_tensor(mean, dtype=torch.float32).reshape(self.mean.shape))
        self.std.copy_(torch.as_tensor(std, dtype=torch.float32).reshape(self.std.shape))

    def normalize(self, features):
        return (features - self.mean) / self.std

    def denormalize(self, features):
        return features * self.std + self.mean

    def forward(self, features, lengths):
        z, mu, logvar = self.encode(features, lengths)
        return self.decode(z, lengths, frames=features.shape[1]), mu, logvar

    # ----- training -----
    def training_loss(self, batch):
        """SmoothL1 on normalised features + SmoothL1 on joints + 1e-4 KL (MLD's VAE losses), over real frames.

        batch: {"features": (B, T, nfeats) normalised, "lengths": (B,) int} -> (loss scalar tensor, logs dict).
        """
        c = self.config
        features, lengths = batch["features"], batch["lengths"].to(batch["features"].device)
        recon, mu, logvar = self(features, lengths)
        mask = lengths_to_mask(lengths, features.shape[1])  # (B, T)
        feature_loss = F.smooth_l1_loss(recon[mask], features[mask])
        # Padded frames hold zeros after decode; denormalise only to compare joints on real frames.
        pred_joints = features_to_joints(self.denormalize(recon))
        true_joints = features_to_joints(self.denormalize(features))
        joint_loss = F.smooth_l1_loss(pred_joints[mask], true_joints[mask])
        # Mean over elements, as MLD's KLLoss (kl_divergence(...).mean()); lambda_kl = 1e-4 assumes that scale.
        kl = 0.5 * torch.mean(mu.pow(2) + logvar.exp() - 1.0 - logvar)
        loss = c.lambda_features * feature_loss + c.lambda_joints * joint_loss + c.lambda_kl * kl
        logs = {name: float(value.detach()) for name, value in
                (("features", feature_loss), ("joints", joint_loss), ("kl", kl), ("total", loss))}
        return loss, logs


class MotionVAE(FeatureVAE):
    """The paper's latent: `latent_size` tokens of width `latent_dim` for any length up to `max_frames`."""

    def __init__(self, config: VAEConfig):
        super().__init__(config)
        c = config
        d = c.latent_dim
        self.skel_embedding = nn.Linear(c.nfeats, d)
        # mu tokens then logvar tokens, prepended to the frames (MLD's global_motion_token)
        self.dist_tokens = nn.Parameter(torch.randn(2 * c.latent_size, d) * 0.02)
        self.encoder_pos = nn.Parameter(torch.randn(2 * c.latent_size + c.max_frames, d) * 0.02)
        self.encoder = SkipTransformer(d, c.num_layers, c.num_heads, c.ff_size, c.dropout)
        # MLD zero-initialises its learned positions; a small random start lets an untrained decoder tell frames apart.
        self.decoder_pos = nn.Parameter(torch.randn(c.max_frames, d) * 0.02)
        self.latent_pos = nn.Parameter(torch.randn(c.latent_size, d) * 0.02)
        self.decoder = SkipTransformer(d, c.num_layers, c.num_heads, c.ff_size, c.dropout, decoder=True)
        self.final = nn.Linear(d, c.nfeats)

    def latent_shape(self, frames):
        return self.config.latent_size, self.config.latent_dim

    # ----- encode / decode -----
    def encode(self, features, lengths, sample=True):
        """features: (B, T, nfeats) normalised; lengths: (B,) -> z (B, latent_size, d), mu, logvar (same shape)."""
        B, T, _ = features.shape
        c = self.config
        if T > c.max_frames:
            raise ValueError(f"{T} frames exceed the VAE's max_frames {c.max_frames}")
        n = 2 * c.latent_size
        x = torch.cat([self.dist_tokens.expand(B, -1, -1), self.skel_embedding(features)], dim=1)  # (B, n+T, d)
        x = x + self.encoder_pos[: n + T]
        mask = torch.cat([torch.ones(B, n, dtype=torch.bool, device=x.device), lengths_to_mask(lengths, T)], dim=1)
        out = self.encoder(x, key_mask=mask)
        mu, logvar = out[:, : c.latent_size], out[:, c.latent_size: n]
        if not sample:
            return mu, mu, logvar
        z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
        return z, mu, logvar

    def decode(self, z, lengths, frames=None):
        """z: (B, latent_size, d); lengths: (B,) -> normalised features (B, frames, nfeats), zero past each length.

        `frames` (default max(lengths)) may exceed the lengths: padded frames never influence real ones, so a fixed
        `frames` (a CUDA-graph length bucket) gives the same real frames as decoding at the exact length.
        """
        B = z.shape[0]
        T = int(lengths.max()) if frames is None else frames
        if T > self.config.max_frames:
            raise ValueError(f"{T} frames exceed the VAE's max_frames {self.config.max_frames}")
        queries = self.decoder_pos[:T].expand(B, -1, -1)
        mask = lengths_to_mask(lengths, T)
        out = self.final(self.decoder(queries, key_mask=mask, memory=z + self.latent_pos))
        return out * mask[..., None]
