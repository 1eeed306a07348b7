"""torch models: motion VAEs (temporal conv, paper transformer), Motion Mamba and MLD denoisers, text encoder, and their configs.

`build_denoiser(config)` picks the denoiser class named by `config.denoiser_kind`.
"""

from motion_core.models.config import ModelConfig
from motion_core.models.mamba_denoiser import MotionMambaDenoiser
from motion_core.models.mld_denoiser import MLDDenoiser


def build_denoiser(config: ModelConfig):
    """The denoiser module for `config` (random weights): MotionMambaDenoiser or MLDDenoiser."""
    if config.denoiser_kind == "motion_mamba":
        return MotionMambaDenoiser(config.denoiser)
    return MLDDenoiser(config.denoiser)


def build_vae(config: ModelConfig):
    """The VAE module for `config` (random weights): a temporal ConvMotionVAE or the paper's MotionVAE."""
    return build_vae_from(config.vae)


def build_vae_from(vae_config):
    # Imported here, not at the top: vae.py imports build_vae_from from this package (a cycle at import time).
    from motion_core.models.conv_vae import ConvMotionVAE
    from motion_core.models.vae import MotionVAE

    if vae_config.arch == "conv":
        return ConvMotionVAE(vae_config)
    return MotionVAE(vae_config)
