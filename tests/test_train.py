"""motion_core.train: the loop learns, checkpoints resume bit-exactly on CPU, logs and curves are written, and the
command line reports user errors in one line. Models are tiny so the file runs in seconds on 2 cores."""

import json

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from motion_core.cli import main as cli_main
from motion_core.data.dataset import MotionTextDataset
from motion_core.errors import MotionError
from motion_core.checkpoint import optimizer_from_tensors, optimizer_to_tensors
from motion_core.models.vae import FeatureVAE
from motion_core.train import TrainConfig, train
from test_dataset import fake_encode, write_tiny_corpus

TINY = {
    "evaluator": {"width": 32, "layers": 1, "heads": 2, "ff": 64, "embed_dim": 16},
    "vae": {"latent_dim": 8, "conv_width": 32, "res_blocks": 1},  # the temporal (conv) latent, the default preset
    "denoiser": {"width": 32, "levels": 2, "mixer_heads": 2, "mixer_ff_size": 64, "d_state": 4},
    "baseline": {"width": 32, "num_layers": 3, "num_heads": 2, "ff_size": 64},
}
PAPER_VAE = {"latent_dim": 32, "num_layers": 3, "num_heads": 2, "ff_size": 64}  # preset "paper": latent [2, 32]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = write_tiny_corpus(tmp_path_factory.mktemp("train") / "corpus", clips=16)
    for split in ("train", "test"):
        MotionTextDataset(root, split, encode=fake_encode)  # fills the caption cache, so no MiniLM is needed
    return root


def tiny_config(kind, **overrides):
    values = dict(batch_size=8, steps=6, log_every=2, checkpoint_every=3, warmup_steps=2, lr=1e-3, seed=7,
                  max_frames=64, model=dict(TINY[kind]))
    values.update(overrides)
    return TrainConfig(**values)


def test_evaluator_learns_to_match_captions(corpus, tmp_path):
    config = tiny_config("evaluator", steps=40, log_every=10, checkpoint_every=1000, lr=3e-3, batch_size=16)
    summary = train("evaluator", corpus, tmp_path / "run", config, progress=False)
    rows = [json.loads(line) for line in (tmp_path / "run" / "loss.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == list(range(10, 41, 10))
    assert rows[-1]["loss"] < rows[0]["loss"]  # six caption kinds, separable by root height: the loss must drop
    assert summary["step"] == 40
    assert (tmp_path / "run" / "loss.png").stat().st_size > 1000
    assert (tmp_path / "run" / "model" / "evaluator.safetensors").is_file()


def _weights(run):
    return load_file(str(run / "checkpoint" / "model.safetensors"))


@pytest.mark.parametrize("kind", ["evaluator", "vae"])
def test_resume_is_bit_exact(corpus, tmp_path, kind):
    straight = tmp_path / "straight"
    train(kind, corpus, straight, tiny_config(kind), progress=False)
    split = tmp_path / "split"
    first = train(kind, corpus, split, tiny_config(kind), steps=3, progress=False)
    assert first["step"] == 3
    assert json.loads((split / "checkpoint" / "state.json").read_text())["step"] == 3
    train(kind, corpus, split, resume=True, steps=6, progress=False)
    a, b = _weights(straight), _weights(split)
    assert a.keys() == b.keys()
    for name in a:
        assert torch.equal(a[name], b[name]), name
    log_a = (straight / "loss.jsonl").read_text().splitlines()
    log_b = (split / "loss.jsonl").read_text().splitlines()
    strip = lambda line: {k: v for k, v in json.loads(line).items() if k not in ("elapsed_s", "steps_per_s", "samples_per_s")}
    assert [strip(line) for line in log_a] == [strip(line) for line in log_b]


def test_vae_run_exports_a_loadable_vae(corpus, tmp_path):
    train("vae", corpus, tmp_path / "vae", tiny_config("vae", steps=4), progress=False)
    vae = FeatureVAE.from_pretrained(tmp_path / "vae").eval()
    mean = np.load(corpus / "Mean.npy")
    np.testing.assert_allclose(vae.mean.numpy(), mean, rtol=1e-6)  # normaliser travels with the weights
    features = torch.zeros(2, 48, 263)
    z, _, _ = vae.encode(features, torch.tensor([48, 40]), sample=False)
    assert vae.decode(z, torch.tensor([48, 40])).shape == (2, 48, 263)


def test_optimizer_state_round_trip():
    model = torch.nn.Linear(3, 2)
    optimizer = torch.optim.AdamW(model.parameters(), lr=0.1)
    model(torch.randn(4, 3)).sum().backward()
    optimizer.step()
    tensors, groups = optimizer_to_tensors(optimizer)
    fresh = torch.optim.AdamW(model.parameters(), lr=0.5)
    optimizer_from_tensors(fresh, tensors, json.loads(json.dumps(groups)))
    for key, value in optimizer.state_dict()["state"][0].items():
        assert torch.equal(fresh.state_dict()["state"][0][key], value)
    assert fresh.param_groups[0]["lr"] == 0.1


def test_refuses_to_overwrite_or_resume_nothing(corpus, tmp_path):
    with pytest.raises(MotionError, match="no run to resume"):
        train("evaluator", corpus, tmp_path / "empty", resume=True, progress=False)
    train("evaluator", corpus, tmp_path / "run", tiny_config("evaluator", steps=2), progress=False)
    with pytest.raises(MotionError, match="already holds a run"):
        train("evaluator", corpus, tmp_path / "run", tiny_config("evaluator", steps=2), progress=False)
    with pytest.raises(MotionError, match="not vae"):
        train("vae", corpus, tmp_path / "run", resume=True, progress=False)


def test_cosine_decay_follows_steps_or_the_time_budget():
    from motion_core.train import learning_rate

    config = TrainConfig(lr=1.0, warmup_steps=10, steps=100, lr_decay="cosine")
    assert learning_rate(config, 4, 0.0) == pytest.approx(0.5, rel=1e-2)  # warm-up
    assert learning_rate(config, 50, 0.0) == pytest.approx(0.55)  # half way: midpoint of 1.0 and 0.1
    assert learning_rate(config, 100, 0.0) == pytest.approx(0.1)
    timed = TrainConfig(lr=1.0, warmup_steps=1, steps=10 ** 6, minutes=1.0, lr_decay="cosine")
    assert learning_rate(timed, 10, 60.0) == pytest.approx(0.1)  # the clock ran out first
    assert learning_rate(TrainConfig(lr=1.0, warmup_steps=1), 50, 1e9) == 1.0  # constant by default
    with pytest.raises(MotionError, match="lr_decay"):
        TrainConfig.from_dict({"lr_decay": "linear"})


def test_unknown_config_key_is_a_user_error():
    with pytest.raises(MotionError, match="unknown training config"):
        TrainConfig.from_dict({"learning_rate": 1.0})


def test_cli_trains_and_reports_errors(corpus, tmp_path, capsys):
    config = tmp_path / "tiny.json"
    config.write_text(json.dumps({"log_every": 1, "warmup_steps": 1, "max_frames": 64, "model": TINY["evaluator"]}))
    code = cli_main(["train", "evaluator", "--data", str(corpus), "--out", str(tmp_path / "cli"), "--config",
                     str(config), "--steps", "2", "--batch-size", "4", "--no-progress"])
    assert code == 0
    assert "evaluator: step 2/2" in capsys.readouterr().out
    code = cli_main(["train", "denoiser", "--data", str(corpus), "--out", str(tmp_path / "d"), "--steps", "1",
                     "--no-progress"])
    assert code == 2
    assert "--vae" in capsys.readouterr().err
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    assert cli_main(["train", "vae", "--data", str(corpus), "--out", str(tmp_path / "b"), "--config", str(bad)]) == 2


@pytest.mark.parametrize("preset", ["temporal", "paper"])
def test_a_model_setting_of_the_wrong_type_is_named_before_anything_is_built(corpus, tmp_path, capsys, preset):
    config = tmp_path / "typo.json"
    config.write_text(json.dumps({"preset": preset, "model": {"num_layers": "9"}}))
    code = cli_main(["train", "vae", "--data", str(corpus), "--out", str(tmp_path / "typo"), "--config", str(config),
                     "--steps", "1", "--no-progress"])
    assert code == 2 and "model.num_layers must be int, got '9'" in capsys.readouterr().err
    assert not (tmp_path / "typo" / "checkpoint").exists()


@pytest.mark.parametrize("preset", ["temporal", "paper"])
@pytest.mark.parametrize("kind", ["denoiser", "baseline"])
def test_denoiser_trains_on_a_vae_and_exports_a_generator(corpus, tmp_path, kind, preset):
    from motion_core.generator import MotionGenerator

    vae_run = tmp_path / "vae"
    vae_model = TINY["vae"] if preset == "temporal" else PAPER_VAE
    train("vae", corpus, vae_run, tiny_config("vae", steps=2, preset=preset, model=vae_model), progress=False)
    run = tmp_path / kind
    model = dict(TINY[kind])
    if preset == "paper":
        model.pop("width")
    summary = train(kind, corpus, run, tiny_config(kind, steps=4, model=model, export_dtype="float16"), vae=vae_run,
                    progress=False)
    assert summary["step"] == 4
    config = json.loads((run / "model" / "config.json").read_text())
    assert config["denoiser_kind"] == ("motion_mamba" if kind == "denoiser" else "mld")
    assert config["vae"]["arch"] == ("conv" if preset == "temporal" else "transformer")
    scale = config["diffusion"]["latent_scale"]
    assert (scale == 1.0) if preset == "paper" else (0 < scale and scale != 1.0)  # unit-variance latents
    assert load_file(str(run / "model" / "denoiser.safetensors"))["pos"].dtype == torch.float16
    generator = MotionGenerator.from_pretrained(run / "model", text_encoder=_FakeTextEncoder())
    motion = generator.generate("a person walks forward", seconds=2.0, seed=1, steps=3, device="cpu")
    assert motion.joints.shape == (1, 40, 22, 3) and np.isfinite(motion.joints).all()


class _FakeTextEncoder:
    def encode(self, prompts):
        return torch.from_numpy(fake_encode(prompts))

    def to(self, device):
        return self


def test_ctrl_c_stops_with_a_checkpoint(corpus, tmp_path, monkeypatch):
    import os
    import signal

    from motion_core.data import dataset as dataset_module

    calls = {"n": 0}
    original = dataset_module.BatchSampler.next

    def next_then_interrupt(self):
        calls["n"] += 1
        if calls["n"] == 3:
            os.kill(os.getpid(), signal.SIGINT)  # as if the user pressed Ctrl-C during step 3
        return original(self)

    monkeypatch.setattr(dataset_module.BatchSampler, "next", next_then_interrupt)
    summary = train("evaluator", corpus, tmp_path / "run", tiny_config("evaluator", steps=50), progress=False)
    assert summary["step"] == 3
    assert json.loads((tmp_path / "run" / "checkpoint" / "state.json").read_text())["step"] == 3
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_init_warm_starts_from_weights_and_refuses_other_models(corpus, tmp_path):
    first = tmp_path / "first"
    train("vae", corpus, first, tiny_config("vae", steps=2), progress=False)
    trained = first / "model" / "vae.safetensors"
    # zero steps after a warm start: the exported weights are exactly the initial ones
    train("vae", corpus, tmp_path / "warm", tiny_config("vae", steps=0), init=trained, progress=False)
    a, b = load_file(str(trained)), load_file(str(tmp_path / "warm" / "model" / "vae.safetensors"))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    # a model folder works too (its vae files, here one file; shards the same way)
    train("vae", corpus, tmp_path / "warm2", tiny_config("vae", steps=0), init=first / "model", progress=False)
    c = load_file(str(tmp_path / "warm2" / "model" / "vae.safetensors"))
    assert all(torch.equal(a[k], c[k]) for k in a)
    with pytest.raises(MotionError, match="needs a .safetensors file or a folder"):
        train("vae", corpus, tmp_path / "bad0", tiny_config("vae", steps=1), init=tmp_path, progress=False)
    other = tmp_path / "other.safetensors"
    torch.nn.Linear(2, 2)  # an unrelated model's weights
    from safetensors.torch import save_file
    save_file({"weight": torch.zeros(2, 2)}, str(other))
    with pytest.raises(MotionError, match="does not match this model"):
        train("vae", corpus, tmp_path / "bad", tiny_config("vae", steps=1), init=other, progress=False)


def test_decoder_only_keeps_the_encoder_and_its_normaliser(corpus, tmp_path):
    """A decoder-only fine-tune must not move the latent space a trained denoiser was fitted to: the encoder's
    weights and the normaliser of the initial weights come out bit-identical, and the decoder does learn."""
    first = tmp_path / "first"
    train("vae", corpus, first, tiny_config("vae", steps=2), progress=False)
    initial = load_file(str(first / "model" / "vae.safetensors"))
    initial["mean"] = initial["mean"] + 1.0  # as if trained on another corpus: must survive the fine-tune
    from safetensors.torch import save_file
    save_file(initial, str(tmp_path / "init.safetensors"))
    model = dict(TINY["vae"], lambda_velocity=1.0, lambda_foot_contact=1.0)
    train("vae", corpus, tmp_path / "dec", tiny_config("vae", steps=4, decoder_only=True, model=model),
          init=tmp_path / "init.safetensors", progress=False)
    tuned = load_file(str(tmp_path / "dec" / "model" / "vae.safetensors"))
    encoder = [k for k in initial if k.startswith("enc_")]
    assert encoder and all(torch.equal(initial[k], tuned[k]) for k in encoder + ["mean", "std"])
    assert any(not torch.equal(initial[k], tuned[k]) for k in initial if k.startswith("dec_"))


def test_a_vae_fitted_on_other_data_sees_this_corpus_normalised_its_way(corpus, tmp_path):
    """Fine-tuning a trained model on your own corpus: the denoiser's VAE (and a decoder-only run's frozen encoder)
    was fitted with other feature statistics, so the corpus is re-expressed in them instead of refused."""
    import shutil

    from safetensors.torch import save_file

    from motion_core.train import DenoiserTask

    vae_run = tmp_path / "vae"
    train("vae", corpus, vae_run, tiny_config("vae", steps=2), progress=False)
    other = tmp_path / "other"
    shutil.copytree(vae_run / "model", other)
    weights = load_file(str(other / "vae.safetensors"))
    weights["mean"], weights["std"] = weights["mean"] + 0.5, weights["std"] * 2.0  # as if fitted on other data
    save_file(weights, str(other / "vae.safetensors"))

    dataset = MotionTextDataset(corpus, "train", encode=fake_encode)
    raw = dataset.features * dataset.std + dataset.mean
    task = DenoiserTask(tiny_config("denoiser", steps=2), dataset, torch.device("cpu"), vae_dir=other)
    task.build()
    np.testing.assert_allclose(dataset.mean, weights["mean"].numpy())
    np.testing.assert_allclose(dataset.features * dataset.std + dataset.mean, raw, atol=1e-5)  # same motions
    assert train("denoiser", corpus, tmp_path / "den", tiny_config("denoiser", steps=2), vae=other,
                 progress=False)["step"] == 2
    # a decoder-only fine-tune from those weights trains too (and keeps their statistics)
    train("vae", corpus, tmp_path / "dec", tiny_config("vae", steps=2, decoder_only=True),
          init=other / "vae.safetensors", progress=False)
    tuned = load_file(str(tmp_path / "dec" / "model" / "vae.safetensors"))
    assert torch.equal(tuned["mean"], weights["mean"]) and torch.equal(tuned["std"], weights["std"])
