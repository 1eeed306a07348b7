"""torch models: motion VAE, Motion Mamba and MLD denoisers, text encoder, and their configs.

`build_denoiser(config)` picks the denoiser class named by `config.denoiser_kind`.
"""

from motion_core.models.config import ModelConfig


def build_denoiser(config: ModelConfig):
    """The denoiser module for `config` (random weights): MotionMambaDenoiser or MLDDenoiser."""
    if config.denoiser_kind == "motion_mamba":
        from motion_core.models.mamba_denoiser import MotionMambaDenoiser

        return MotionMambaDenoiser(config.denoiser)
    from motion_core.models.mld_denoiser import MLDDenoiser

    return MLDDenoiser(config.denoiser)


def build_vae(config: ModelConfig):
    from motion_core.models.vae import MotionVAE

    return MotionVAE(config.vae)
