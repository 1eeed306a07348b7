"""Model configuration: one dataclass per model, saved as `config.json` beside the safetensors weights.

Loading rebuilds every model from the JSON alone. Every config of the project (model, VAE, evaluator, training) is
read by one loader, `load_dataclass`: unknown keys and wrong types are errors (`ConfigError`, naming the key), so a
typo in an override never silently falls back to a default and a "9" where 9 belongs never reaches torch.

Defaults and the paper ambiguities they settle (see docs/reference/motion-mamba-and-mld.md §1.2-1.5, §5):
- Latent [2, 256]: 2 latent tokens of width 256 (the paper's best latent size; MLD used [1, 256]).
- Depth: `levels = 5` encoder levels + attention mixer + 5 decoder levels, i.e. "11 layers" read the way MLD counts
  its odd `num_layers` (5 in, 1 middle, 5 out). The other reading (N = 11 levels, 21 branches at the top) is
  `levels = 11`.
- HTM branches: level i of N runs 2(N-i)+1 parallel SSM branches, descending 9/7/5/3/1 in the encoder; the decoder
  mirrors it (D_1 at the bottom gets 1, D_N at the top gets 2N-1) as in the paper's {S_2N-1, ..., S_1} order.
- Aggregation of HTM branches: "sum" (cheapest; the paper says only "Aggregate"). "concat_linear" is [kang]'s choice.
- Skip form: "concat_linear" (cat(x, skip) -> Linear(2d -> d)), matching Fig. 2's "Concatenate Feature" and MLD's
  skip transformer. "add" is [kang]'s additive skip.
- Condition tokens: [time, text] come FIRST in the token sequence, so the causal HTM scan carries them into the
  latent tokens (a scan cannot look ahead; MLD appends them last because attention can).
- Mamba: d_state 16, d_conv 4, expand 2, dt_rank "auto" (mamba-ssm defaults; the paper gives none).
- Text: all-MiniLM-L6-v2 mean-pooled, L2-normalised 384-d embedding (CLIP ViT-L/14 is not available offline).
- Diffusion: DDPM 1000 steps, scaled_linear beta 0.00085 -> 0.012, epsilon prediction; DDIM 50 steps, eta 0,
  classifier-free guidance 7.5, 10% text dropout in training (MLD's settings, which Motion Mamba reuses).
"""

import dataclasses
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Union, get_type_hints

from motion_core.errors import MotionError
from motion_core.motion.protocol import FPS, MAX_FRAMES

DENOISER_KINDS = ("motion_mamba", "mld")
VAE_ARCHS = ("transformer", "conv")
HTM_DIRECTIONS = ("forward", "alternate")
AGGREGATIONS = ("sum", "concat_linear")
SKIP_FORMS = ("concat_linear", "add")


class ConfigError(MotionError, ValueError):
    """A config that does not describe a model or a run: unknown key, wrong type or value outside its closed set.

    A MotionError (users cause it by editing a JSON file; the CLI prints it in one line) and a ValueError."""


@dataclass
class VAEConfig:
    """The motion VAE. arch "transformer": MLD's skip-transformer encoder/decoder with a fixed [latent_size,
    latent_dim] latent (MLD configs/modules/motion_vae.yaml; the paper's preset). arch "conv": the temporal latent of
    motion_core/models/conv_vae.py, ceil(T / down_factor) tokens of latent_dim channels; latent_size is then the
    token count of max_frames (the most a denoiser sees)."""

    nfeats: int = 263  # HumanML3D feature width (KIT-ML: 251)
    latent_size: int = 2  # number of latent tokens (conv: ceil(max_frames / down_factor))
    latent_dim: int = 256  # width of each latent token and of the transformer (conv: latent channels)
    arch: str = "transformer"  # "transformer" (the paper's [2, 256]) or "conv" (temporal latent)
    down_factor: int = 4  # conv: time downsampling, a power of two
    conv_width: int = 384  # conv: channels of the convolutional trunk
    res_blocks: int = 2  # conv: residual blocks per resolution (dilations 1, 3, 9, ...)
    num_layers: int = 9  # odd: (n-1)/2 input blocks, 1 middle, (n-1)/2 output blocks with skips
    num_heads: int = 4
    ff_size: int = 1024
    dropout: float = 0.1
    max_frames: int = MAX_FRAMES  # 9.8 s at 20 fps, HumanML3D's longest segment
    lambda_features: float = 1.0  # SmoothL1 on normalised features
    lambda_joints: float = 1.0  # SmoothL1 on joints recovered from de-normalised features
    lambda_kl: float = 1e-4  # KL(q(z|x) || N(0, I))
    # Off in MLD's recipe. Steps and foot plants are fast, small joint motions that the two losses above average
    # away; these weigh them directly (both in m/s, SmoothL1):
    lambda_velocity: float = 0.0  # joint velocities of the reconstruction vs the original's
    lambda_foot_contact: float = 0.0  # foot joints' speed on frames where the original foot is planted
    # Turns are one channel of 263 (root angular velocity) and rare in the corpus: the two losses above let a VAE
    # forget them (a 180-degree turn came back as 2 degrees). This weighs the root channels and the heading they
    # integrate to (radians, SmoothL1):
    lambda_root: float = 0.0


@dataclass
class MambaDenoiserConfig:
    """Motion Mamba U-Net: encoder levels of HTM -> BSM, attention mixer, decoder levels with skips."""

    latent_size: int = 2  # latent tokens (temporal latents: the most tokens, those of max_frames)
    latent_dim: int = 256  # latent channels
    width: int = 0  # model width; 0 = latent_dim (the paper: latent tokens are the model's tokens)
    text_dim: int = 384  # all-MiniLM-L6-v2 sentence embedding width
    htm_directions: str = "forward"  # "forward": every HTM branch scans forward (the paper); "alternate": every
    # second branch scans the latent tokens backwards, so a temporal latent's tokens also see what follows them
    levels: int = 5  # N encoder levels (and N decoder levels); see the module docstring for the "11 layers" reading
    branch_pattern: str = "descending"  # "descending": 2(N-i)+1 branches at encoder level i; "single": 1 everywhere
    aggregation: str = "sum"  # how HTM combines its branches: "sum" or "concat_linear"
    skip: str = "concat_linear"  # how a decoder level takes its encoder skip: "concat_linear" or "add"
    d_state: int = 16
    d_conv: int = 4
    expand: int = 2
    bsm_expand: int = 2  # BSM's width is the token count (4), so its inner width is only expand * 4
    mixer_heads: int = 4
    mixer_ff_size: int = 1024
    dropout: float = 0.1  # used in the mixer and the condition embeddings

    def encoder_branches(self):
        """Branch count per encoder level, top (E_1) to bottom (E_N): 2(N-i)+1, e.g. [9, 7, 5, 3, 1]."""
        if self.branch_pattern == "single":
            return [1] * self.levels
        return [2 * (self.levels - i) + 1 for i in range(1, self.levels + 1)]

    def decoder_branches(self):
        """Branch count per decoder level in execution order, bottom (D_1) to top (D_N): [1, 3, 5, 7, 9]."""
        return list(reversed(self.encoder_branches()))


@dataclass
class MLDDenoiserConfig:
    """MLD's denoiser: a 9-layer skip transformer over [latent tokens, time token, text token]."""

    latent_size: int = 2
    latent_dim: int = 256
    width: int = 0  # model width; 0 = latent_dim
    text_dim: int = 384
    num_layers: int = 9
    num_heads: int = 4
    ff_size: int = 1024
    dropout: float = 0.1


@dataclass
class DiffusionConfig:
    """DDPM training schedule and DDIM sampling defaults (MLD configs/modules/scheduler.yaml)."""

    num_train_timesteps: int = 1000
    beta_start: float = 0.00085
    beta_end: float = 0.012
    beta_schedule: str = "scaled_linear"  # or "linear"
    prediction_type: str = "epsilon"
    steps: int = 50  # DDIM sampling steps
    eta: float = 0.0
    steps_offset: int = 1  # diffusers' DDIM "leading" spacing + offset 1: 981, 961, ..., 1
    guidance: float = 7.5
    uncond_prob: float = 0.1  # text dropout in training, which makes guidance possible
    latent_scale: float = 1.0  # diffusion runs on z * latent_scale; set to 1/std(z) when denoiser training starts


@dataclass
class TextConfig:
    model: str = "all-MiniLM-L6-v2"
    dim: int = 384
    max_tokens: int = 256  # the sentence-transformers limit; longer prompts are truncated with a warning


@dataclass
class ModelConfig:
    """Everything needed to rebuild a generator: VAE, one denoiser, diffusion and text settings."""

    name: str = "motion-mamba"
    denoiser_kind: str = "motion_mamba"  # "motion_mamba" or "mld"
    fps: float = FPS
    vae: VAEConfig = field(default_factory=VAEConfig)
    denoiser: Union[MambaDenoiserConfig, MLDDenoiserConfig] = field(default_factory=MambaDenoiserConfig)
    diffusion: DiffusionConfig = field(default_factory=DiffusionConfig)
    text: TextConfig = field(default_factory=TextConfig)

    def __post_init__(self):
        self.validate()

    def validate(self):
        if self.denoiser_kind not in DENOISER_KINDS:
            raise ConfigError(f"denoiser_kind must be one of {DENOISER_KINDS}, got {self.denoiser_kind!r}")
        expected = MambaDenoiserConfig if self.denoiser_kind == "motion_mamba" else MLDDenoiserConfig
        if not isinstance(self.denoiser, expected):
            raise ConfigError(f"denoiser_kind {self.denoiser_kind!r} needs a {expected.__name__}")
        d = self.denoiser
        if (d.latent_size, d.latent_dim) != (self.vae.latent_size, self.vae.latent_dim):
            raise ConfigError("denoiser latent_size/latent_dim must match the VAE's")
        if d.text_dim != self.text.dim:
            raise ConfigError("denoiser text_dim must match text.dim")
        if self.vae.arch not in VAE_ARCHS:
            raise ConfigError(f"vae.arch must be one of {VAE_ARCHS}, got {self.vae.arch!r}")
        if self.vae.arch == "conv":
            factor = self.vae.down_factor
            if factor < 2 or factor & (factor - 1):
                raise ConfigError(f"vae.down_factor must be a power of two >= 2, got {factor}")
            if self.vae.latent_size != math.ceil(self.vae.max_frames / factor):
                raise ConfigError(f"vae.latent_size of a conv VAE must be ceil(max_frames / down_factor) = "
                                  f"{math.ceil(self.vae.max_frames / factor)}, got {self.vae.latent_size}")
        if self.vae.num_layers % 2 != 1:
            raise ConfigError(f"vae.num_layers must be odd (skip transformer), got {self.vae.num_layers}")
        if isinstance(d, MLDDenoiserConfig) and d.num_layers % 2 != 1:
            raise ConfigError(f"denoiser.num_layers must be odd (skip transformer), got {d.num_layers}")
        if isinstance(d, MambaDenoiserConfig):
            if d.aggregation not in AGGREGATIONS:
                raise ConfigError(f"denoiser.aggregation must be one of {AGGREGATIONS}, got {d.aggregation!r}")
            if d.skip not in SKIP_FORMS:
                raise ConfigError(f"denoiser.skip must be one of {SKIP_FORMS}, got {d.skip!r}")
            if d.branch_pattern not in ("descending", "single"):
                raise ConfigError(f"denoiser.branch_pattern must be 'descending' or 'single', got {d.branch_pattern!r}")
            if d.levels < 1:
                raise ConfigError(f"denoiser.levels must be >= 1, got {d.levels}")
            if d.htm_directions not in HTM_DIRECTIONS:
                raise ConfigError(f"denoiser.htm_directions must be one of {HTM_DIRECTIONS}, got {d.htm_directions!r}")
        if not (self.diffusion.latent_scale > 0 and math.isfinite(self.diffusion.latent_scale)):
            raise ConfigError(f"diffusion.latent_scale must be a positive number, got {self.diffusion.latent_scale}")
        if self.diffusion.beta_schedule not in ("scaled_linear", "linear"):
            raise ConfigError(f"diffusion.beta_schedule must be 'scaled_linear' or 'linear', got {self.diffusion.beta_schedule!r}")
        if self.diffusion.eta != 0:
            raise ConfigError(f"diffusion.eta must be 0 (deterministic DDIM, the only sampler implemented), got "
                              f"{self.diffusion.eta}")
        if self.diffusion.prediction_type != "epsilon":
            raise ConfigError(f"diffusion.prediction_type must be 'epsilon', got {self.diffusion.prediction_type!r}")
        if not (self.fps > 0 and math.isfinite(self.fps)):
            raise ConfigError(f"fps must be a positive number, got {self.fps}")
        _check_ranges(self)

    # ----- construction helpers -----
    @classmethod
    def default(cls, denoiser_kind="motion_mamba"):
        """The paper-sized model (latent [2, 256]); `denoiser_kind="mld"` gives the MLD baseline."""
        denoiser = MambaDenoiserConfig() if denoiser_kind == "motion_mamba" else MLDDenoiserConfig()
        return cls(name=denoiser_kind.replace("_", "-"), denoiser_kind=denoiser_kind, denoiser=denoiser)

    @classmethod
    def temporal(cls, denoiser_kind="motion_mamba"):
        """The shipped design: a conv VAE with a ceil(T/4) x 32 temporal latent, width-256 denoisers over it."""
        vae = temporal_vae_config()
        return cls(name=denoiser_kind.replace("_", "-"), denoiser_kind=denoiser_kind, vae=vae,
                   denoiser=denoiser_config_for(vae, denoiser_kind))

    @classmethod
    def tiny(cls, denoiser_kind="motion_mamba"):
        """A few-thousand-parameter model with the same structure, for tests (random weights)."""
        vae = VAEConfig(latent_size=2, latent_dim=32, num_layers=3, num_heads=2, ff_size=64, dropout=0.0)
        if denoiser_kind == "motion_mamba":
            denoiser = MambaDenoiserConfig(latent_dim=32, levels=2, mixer_heads=2, mixer_ff_size=64, d_state=4,
                                           dropout=0.0)
        else:
            denoiser = MLDDenoiserConfig(latent_dim=32, num_layers=3, num_heads=2, ff_size=64, dropout=0.0)
        return cls(name=f"tiny-{denoiser_kind.replace('_', '-')}", denoiser_kind=denoiser_kind, vae=vae,
                   denoiser=denoiser)

    @classmethod
    def tiny_temporal(cls, denoiser_kind="motion_mamba"):
        """`temporal()`'s structure at test size: conv VAE (width 32, 8 latent channels), width-32 denoisers."""
        vae = temporal_vae_config(latent_dim=8, conv_width=32, res_blocks=1)
        common = {"latent_size": vae.latent_size, "latent_dim": vae.latent_dim, "width": 32, "dropout": 0.0}
        if denoiser_kind == "motion_mamba":
            denoiser = MambaDenoiserConfig(**common, levels=2, mixer_heads=2, mixer_ff_size=64, d_state=4,
                                           htm_directions="alternate")
        else:
            denoiser = MLDDenoiserConfig(**common, num_layers=3, num_heads=2, ff_size=64)
        return cls(name=f"tiny-temporal-{denoiser_kind.replace('_', '-')}", denoiser_kind=denoiser_kind, vae=vae,
                   denoiser=denoiser)

    # ----- JSON round trip -----
    def to_dict(self):
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data):
        if not isinstance(data, dict):
            raise ConfigError(f"a model config must be a JSON object, got {type(data).__name__}")
        # the denoiser section's class is the one its denoiser_kind names
        kind = data.get("denoiser_kind", "motion_mamba")
        denoiser_cls = MambaDenoiserConfig if kind == "motion_mamba" else MLDDenoiserConfig
        return load_dataclass(cls, data, types={"denoiser": denoiser_cls})

    def save(self, path):
        Path(path).write_text(json.dumps(self.to_dict(), indent=2) + "\n")

    @classmethod
    def load(cls, path):
        return cls.from_dict(json.loads(Path(path).read_text()))


def temporal_vae_config(**overrides):
    """VAEConfig of the temporal (conv) latent: ceil(T/4) tokens x 32 channels, trunk width 384."""
    values = {"arch": "conv", "latent_dim": 32, "down_factor": 4, "conv_width": 384, "res_blocks": 2, **overrides}
    values["latent_size"] = math.ceil(values.get("max_frames", MAX_FRAMES) / values["down_factor"])
    return VAEConfig(**values)


def denoiser_config_for(vae_config, denoiser_kind):
    """The denoiser config that fits a VAE. The paper's denoisers work on its [2, 256] latent tokens as they are.
    Over a temporal latent (49 tokens for 9.8 s, 12x the paper's 4) the channels are projected to width 256, HTM's
    branches scan in both directions, and Motion Mamba uses 3 levels (branches 5/3/1) with d_state 8: the scan's work
    grows with tokens x branches x state, and 5 levels with d_state 16 cost 6x more (0.9 s against 0.15 s per
    guided denoiser call on one CPU core) for a model the same size as the MLD baseline's."""
    values = {"latent_size": vae_config.latent_size, "latent_dim": vae_config.latent_dim}
    if vae_config.arch == "conv":
        values["width"] = 256
        if denoiser_kind == "motion_mamba":
            values.update(htm_directions="alternate", levels=3, d_state=8)
    return (MambaDenoiserConfig if denoiser_kind == "motion_mamba" else MLDDenoiserConfig)(**values)


MAX_SIZE = 2 ** 20  # no size, count or width of a model this project could load comes near it
ZERO_ALLOWED = {"width", "steps_offset", "res_blocks"}  # 0 means "same as latent_dim" / no offset / no blocks
FRACTIONS = {"dropout", "uncond_prob", "beta_start", "beta_end"}  # in [0, 1]


def _check_ranges(config):
    """Sizes positive and bounded, numbers finite, fractions in [0, 1], attention heads dividing their widths:
    a config.json that breaks these fails here, in one line, before any module is built (or memory allocated)."""
    for section_name in ("vae", "denoiser", "diffusion", "text"):
        section = getattr(config, section_name)
        for f in dataclasses.fields(section):
            value = getattr(section, f.name)
            name = f"{section_name}.{f.name}"
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                continue
            if isinstance(value, int):
                low = 0 if f.name in ZERO_ALLOWED else 1
                if not low <= value <= MAX_SIZE:
                    raise ConfigError(f"{name} must be a whole number from {low} to {MAX_SIZE}, got {value}")
            elif not math.isfinite(value) or value < 0 or (f.name in FRACTIONS and value > 1):
                limit = "between 0 and 1" if f.name in FRACTIONS else "a finite number >= 0"
                raise ConfigError(f"{name} must be {limit}, got {value}")
    if config.text.max_tokens < 3:
        raise ConfigError(f"text.max_tokens must be at least 3 ([CLS], a word, [SEP]), got {config.text.max_tokens}")
    d = config.denoiser
    heads = [("denoiser.mixer_heads" if isinstance(d, MambaDenoiserConfig) else "denoiser.num_heads",
              d.mixer_heads if isinstance(d, MambaDenoiserConfig) else d.num_heads, d.width or d.latent_dim)]
    if config.vae.arch == "transformer":
        heads.append(("vae.num_heads", config.vae.num_heads, config.vae.latent_dim))
    for name, count, width in heads:
        if width % count:
            raise ConfigError(f"{name} ({count}) must divide the width it splits ({width})")


def load_dataclass(cls, data, label="", prefix="", types=None):
    """Dataclass `cls` built from a JSON object `data`, checked: the project's one config loader.

    Args:
        cls: the dataclass; missing keys keep its defaults.
        data: dict of field values. Each must have its field's annotated type (int, float, str, bool, dict; an int
            is fine where a float is expected, as JSON has one number type, never a bool for a number). A field
            whose type is a dataclass takes a nested object, loaded the same way (or an instance of that class).
        label: what the config is, for messages ("training" -> "unknown training config key(s): ...").
        prefix: the key path of `data` inside the whole config, e.g. "vae." (messages name "vae.num_layers").
        types: {field: type} overriding annotations (ModelConfig's denoiser section, whose class denoiser_kind picks).
    Raises ConfigError naming the key for an unknown key or a wrong type; the class's own checks (__post_init__)
    raise theirs.
    """
    if not isinstance(data, dict):
        what = prefix.rstrip(".") or f"a {label + ' ' if label else ''}config"
        raise ConfigError(f"{what} must be a JSON object, got {type(data).__name__}")
    hints = {**get_type_hints(cls), **(types or {})}
    names = [f.name for f in dataclasses.fields(cls)]
    unknown = sorted(set(data) - set(names))
    if unknown:
        raise ConfigError(f"unknown {label + ' ' if label else ''}config key(s): "
                          f"{', '.join(prefix + k for k in unknown)}; allowed: {', '.join(sorted(names))}")
    values = {}
    for name, value in data.items():
        expected = hints[name]
        if dataclasses.is_dataclass(expected):
            nested = isinstance(value, expected)
            values[name] = value if nested else load_dataclass(expected, value, label, f"{prefix}{name}.")
        else:
            values[name] = _check_type(prefix + name, value, expected)
    return cls(**values)


def _check_type(key, value, expected):
    if not isinstance(expected, type):  # e.g. a Union: the caller must say which class through `types`
        raise TypeError(f"load_dataclass cannot check {key} of type {expected}; pass its class in types")
    if expected is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if not isinstance(value, expected) or (isinstance(value, bool) and expected is not bool):
        raise ConfigError(f"config key {key} must be {expected.__name__}, got {value!r}")
    return value


def check_vae_config(vae_config):
    """The checks a ModelConfig makes on its VAE section, for a VAE on its own (training one, loading one)."""
    ModelConfig(vae=vae_config, denoiser=denoiser_config_for(vae_config, "motion_mamba"))
    return vae_config
