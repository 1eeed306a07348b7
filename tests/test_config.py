"""The one config loader (models/config.load_dataclass) behind every config of the project: model, VAE, evaluator and
training configs reject unknown keys and wrong types with one error type (ConfigError, a MotionError) naming the key."""

import pytest

from motion_core.errors import MotionError
from motion_core.models.config import ConfigError, ModelConfig, VAEConfig, load_dataclass
from motion_core.models.evaluator import EvaluatorConfig
from motion_core.train import TrainConfig


def test_config_errors_are_user_errors():
    assert issubclass(ConfigError, MotionError) and issubclass(ConfigError, ValueError)


@pytest.mark.parametrize("load, values, message", [
    (TrainConfig.from_dict, {"batch_size": "128"}, "config key batch_size must be int, got '128'"),
    (TrainConfig.from_dict, {"steps": 100.0}, "steps must be int"),  # a float is not a whole number
    (TrainConfig.from_dict, {"lr": True}, "lr must be float"),  # nor is a bool a number
    (TrainConfig.from_dict, {"model": [1]}, "model must be dict"),
    (EvaluatorConfig.from_dict, {"layers": "4"}, "layers must be int"),
    (ModelConfig.from_dict, {"diffusion": {"guidance": "7.5"}}, "diffusion.guidance must be float"),
    (ModelConfig.from_dict, {"vae": []}, "vae must be a JSON object"),
    (lambda v: load_dataclass(VAEConfig, v, "VAE", prefix="model."), {"num_layers": "9"},
     "model.num_layers must be int"),
])
def test_a_wrong_type_is_one_error_naming_the_key(load, values, message):
    with pytest.raises(ConfigError) as raised:
        load(values)
    assert message in str(raised.value) and "\n" not in str(raised.value)


@pytest.mark.parametrize("load, values, message", [
    (TrainConfig.from_dict, {"learning_rate": 1e-4}, "unknown training config key(s): learning_rate; allowed: "),
    (EvaluatorConfig.from_dict, {"widht": 256}, "unknown evaluator config key(s): widht"),
    (ModelConfig.from_dict, {"text": {"dims": 384}}, "unknown config key(s): text.dims"),
])
def test_an_unknown_key_is_an_error(load, values, message):
    with pytest.raises(ConfigError) as raised:
        load(values)
    assert message in str(raised.value)


def test_values_of_the_right_type_load_and_ints_stand_for_floats():
    config = TrainConfig.from_dict({"lr": 1, "batch_size": 64, "model": {"latent_dim": 16}, "preset": "paper"})
    assert config.lr == 1.0 and isinstance(config.lr, float) and config.model == {"latent_dim": 16}
    model = ModelConfig.from_dict({**ModelConfig.tiny("mld").to_dict(), "fps": 20})
    assert model.fps == 20.0 and model.denoiser == ModelConfig.tiny("mld").denoiser  # section class by kind
    assert load_dataclass(VAEConfig, {}) == VAEConfig()  # missing keys keep their defaults


def test_closed_sets_and_the_sampler_are_checked_too():
    with pytest.raises(ConfigError, match="lr_decay"):
        TrainConfig.from_dict({"lr_decay": "linear"})
    with pytest.raises(ConfigError, match="diffusion.eta must be 0"):
        ModelConfig.from_dict({"diffusion": {"eta": 0.5}})
