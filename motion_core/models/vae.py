"""Motion VAE (MLD's skip-transformer encoder/decoder): HumanML3D features <-> latent tokens [latent_size, latent_dim].

Encoder: Linear(263 -> d) per frame, two learned "distribution" tokens per latent token (mu and log-variance) are
put in front, a skip transformer reads everything under the frame padding mask, and the first tokens come out as
mu and logvar. Decoder: one learned position query per frame cross-attends to the latent tokens through a skip
transformer, then Linear(d -> 263); padded frames are zeroed. The length is only the number of queries, so any
length up to `max_frames` decodes from the same latent.

Normalisation statistics (HumanML3D Mean/Std) are buffers of this module: they give the decoder's output its
meaning, travel inside vae.safetensors, and the joint loss needs them.

Training API (for motion_core.train):
    loss, parts = vae.training_loss({"motion": (B, T, 263) normalised, "lengths": (B,) int})
    `loss` is the scalar to backpropagate; `parts` maps "features", "joints", "kl" to detached scalar tensors.

On disk (`save_pretrained` / `from_pretrained`, for every VAE class): vae.safetensors (or shards) + vae_config.json;
a generator folder's VAE (config.json's "vae" section) loads the same way.
"""

import json
from dataclasses import asdict
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from motion_core.errors import MotionError
from motion_core.models import build_vae_from
from motion_core.models.config import VAEConfig, check_vae_config, load_dataclass
from motion_core.models.feature_joints import features_to_joints
from motion_core.models.layers import SkipTransformer
from motion_core.motion.protocol import FPS
from motion_core.motion.skeleton import FEET_LEFT, FEET_RIGHT
from motion_core.models.weights_file import cast_state, load_weights, model_folder, save_weights, weight_files

CONFIG_FILE = "vae_config.json"  # a VAE folder's config; a generator folder keeps it as config.json's "vae" section


def lengths_to_mask(lengths, max_len):
    """lengths: (B,) int -> (B, max_len) bool, True on real frames."""
    return torch.arange(max_len, device=lengths.device)[None, :] < lengths[:, None]


class FeatureVAE(nn.Module):
    """What every motion VAE shares: the feature statistics, `forward` and the training loss.

    Subclasses give `encode(features, lengths, sample)`, `decode(z, lengths, frames)` and `latent_shape(frames)`.
    """

    ENCODER_PREFIXES: tuple = ()  # parameter names of the encoder (what maps motion to the latent)

    def __init__(self, config: VAEConfig):
        super().__init__()
        self.config = config
        self.register_buffer("mean", torch.zeros(config.nfeats))
        self.register_buffer("std", torch.ones(config.nfeats))

    def freeze_encoder(self):
        """Train the decoder only: the encoder, and so the latent space a trained denoiser was fitted to, stays."""
        for name, parameter in self.named_parameters():
            if name.startswith(self.ENCODER_PREFIXES):
                parameter.requires_grad_(False)
        return self

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
    def training_loss(self, batch, forward=None):
        """SmoothL1 on normalised features + SmoothL1 on joints + 1e-4 KL (MLD's VAE losses), over real frames;
        with lambda_velocity / lambda_foot_contact / lambda_root set, SmoothL1 on joint velocities, on planted feet's
        speed and on the root channels and heading too.

        batch: {"motion": (B, T, nfeats) normalised, "lengths": (B,) int} (a training batch). forward: what runs the
        VAE, default self; multi-GPU training passes its DistributedDataParallel wrapper, whose forward syncs the
        gradients. Returns (loss scalar, {"features", "joints", "kl"[, "velocity", "foot_contact", "root"]: detached
        scalar tensors}): no float() here, a host sync on every step would stall the GPU queue.
        """
        c = self.config
        features = batch["motion"]
        lengths = batch["lengths"].to(features.device)
        recon, mu, logvar = (self if forward is None else forward)(features, lengths)
        recon = recon.float()  # under bf16 autocast the decoder's output is bf16
        mask = lengths_to_mask(lengths, features.shape[1])  # (B, T)
        feature_loss = F.smooth_l1_loss(recon[mask], features[mask])
        # Padded frames hold zeros after decode; denormalise only to compare joints on real frames.
        original = self.denormalize(features)
        joints, joints_true = features_to_joints(self.denormalize(recon)), features_to_joints(original)
        joint_loss = F.smooth_l1_loss(joints[mask], joints_true[mask])
        # Mean over elements, as MLD's KLLoss (kl_divergence(...).mean()); lambda_kl = 1e-4 assumes that scale.
        mu, logvar = mu.float(), logvar.float()
        kl = 0.5 * torch.mean(mu.pow(2) + logvar.exp() - 1.0 - logvar)
        loss = c.lambda_features * feature_loss + c.lambda_joints * joint_loss + c.lambda_kl * kl
        parts = {"features": feature_loss, "joints": joint_loss, "kl": kl}
        if c.lambda_velocity or c.lambda_foot_contact:
            pairs = mask[:, 1:] & mask[:, :-1]  # frame pairs inside the clip
            velocity = (joints[:, 1:] - joints[:, :-1]) * FPS  # (B, T-1, J, 3) m/s
            velocity_true = (joints_true[:, 1:] - joints_true[:, :-1]) * FPS
            parts["velocity"] = F.smooth_l1_loss(velocity[pairs], velocity_true[pairs])
            # the original's contact channels (left ankle, left foot, right ankle, right foot) say which feet stand
            planted = (original[:, :-1, -4:] > 0.5) & pairs[..., None]  # (B, T-1, 4)
            feet_speed = velocity[:, :, list(FEET_LEFT + FEET_RIGHT)]  # (B, T-1, 4, 3)
            slide = F.smooth_l1_loss(feet_speed, torch.zeros_like(feet_speed), reduction="none").mean(-1)
            parts["foot_contact"] = (slide * planted).sum() / planted.sum().clamp(min=1)  # no host sync
            loss = loss + c.lambda_velocity * parts["velocity"] + c.lambda_foot_contact * parts["foot_contact"]
        if c.lambda_root:
            # per frame: the normalised root channels (angular velocity, XZ velocity, height); over the clip: the
            # heading angle they integrate to, in radians, so small per-frame biases cannot add up to a lost turn
            heading = torch.cumsum(self.denormalize(recon)[..., 0], dim=1)
            heading_true = torch.cumsum(original[..., 0], dim=1)
            parts["root"] = (F.smooth_l1_loss(recon[mask][:, :4], features[mask][:, :4])
                             + F.smooth_l1_loss(heading[mask], heading_true[mask], beta=0.1))
            loss = loss + c.lambda_root * parts["root"]
        parts = {name: value.detach() for name, value in parts.items()}
        return loss, parts

    # ----- on disk -----
    def save_pretrained(self, directory, dtype=torch.float32):
        """Write this VAE on its own into `directory` (created if needed): vae.safetensors, or shards over 15 MiB,
        with the normaliser statistics inside (float32 whatever `dtype`), and vae_config.json."""
        directory = Path(directory)
        save_weights(self.state_dict(), directory, "vae", dtype=dtype)
        (directory / CONFIG_FILE).write_text(json.dumps(asdict(self.config), indent=2) + "\n")
        return directory

    @classmethod
    def from_pretrained(cls, directory, device="cpu"):
        """A trained VAE, of the class its config's arch names, from a VAE folder (vae_config.json), a generator
        folder (config.json's "vae" section) or a training run folder (its model/). Weights load as float32.

        Every problem a user can cause (no weights, a missing, unreadable or wrong config) is a one-line MotionError.
        """
        directory = model_folder(directory)
        if not weight_files(directory, "vae"):
            raise MotionError(f"no trained VAE in {directory} (vae.safetensors missing); train one with "
                              "`motion-mamba train vae`")
        config_file, prefix = directory / CONFIG_FILE, ""
        if not config_file.is_file():  # a generator folder: the VAE config is a section of config.json
            config_file, prefix = directory / "config.json", "vae."
        try:
            values = json.loads(config_file.read_text())
            if prefix:
                values = values.get("vae") if isinstance(values, dict) else None
            config = check_vae_config(load_dataclass(VAEConfig, values, "VAE", prefix=prefix))
        except FileNotFoundError:
            raise MotionError(f"{directory} has VAE weights but no {CONFIG_FILE}; copy the whole folder") from None
        except ValueError as error:  # invalid JSON, or a ConfigError
            raise MotionError(f"{config_file} does not describe a VAE ({error}); use the config saved with these "
                              "weights") from None
        vae = build_vae_from(config)
        vae.load_state_dict(cast_state(load_weights(directory, "vae"), vae.state_dict()))
        return vae.to(device)


class MotionVAE(FeatureVAE):
    """The paper's latent: `latent_size` tokens of width `latent_dim` for any length up to `max_frames`."""

    ENCODER_PREFIXES = ("skel_embedding.", "dist_tokens", "encoder_pos", "encoder.")

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
