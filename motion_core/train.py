"""Training of the four models: the motion VAE, the Motion Mamba denoiser, the MLD baseline denoiser, the evaluator.

One loop for all four; a small `Task` per kind builds the model and computes its loss:
  vae        SmoothL1 on normalised features + SmoothL1 on joints recovered from them + 1e-4 · KL (MLD's recipe).
  denoiser   ε-prediction MSE on VAE latents (frozen VAE, z sampled from its posterior), 10% of captions replaced by
  baseline   the empty caption so classifier-free guidance works. Same loop, same data, same budget for both.
  evaluator  symmetric InfoNCE between motion and caption embeddings (motion_core.models.evaluator).

A run folder holds everything, and nothing is pickled:
  run.json                 kind, data folder, VAE run (denoisers), the training config (+ model config)
  checkpoint/              model, optimizer, step and RNG states (motion_core.checkpoint)
  loss.jsonl, loss.png     one JSON line per logged step (mean over the interval and the ranks) and its plot
  model/                   the trained model in its loadable form (generator folder, VAE folder or evaluator folder)
Resuming (`--resume`) restores all of it, so the run continues with exactly the batches, noise and dropout masks it
would have drawn without the interruption (bit-exact on CPU; on GPU up to non-deterministic kernels).

Multi-GPU: start with `torchrun --nproc_per_node=K -m motion_core train ...`; every rank draws its own batches of
batch_size / K, gradients are averaged by DDP, rank 0 writes the files.
"""

import json
import os
import signal
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from safetensors import SafetensorError
from safetensors.torch import load_file
from torch.nn.parallel import DistributedDataParallel
from tqdm import tqdm

from motion_core.checkpoint import load_checkpoint, restore_rng_state, rng_state, save_checkpoint
from motion_core.data.dataset import BatchSampler, MotionTextDataset
from motion_core.device import resolve_device
from motion_core.diffusion import NoiseSchedule
from motion_core.errors import MotionError
from motion_core.generator import MotionGenerator
from motion_core.models import build_denoiser, build_vae_from
from motion_core.models.config import (ConfigError, ModelConfig, VAEConfig, check_vae_config, denoiser_config_for,
                                       load_dataclass, temporal_vae_config)
from motion_core.models.evaluator import EvaluatorConfig, MotionTextEvaluator
from motion_core.models.vae import FeatureVAE
from motion_core.models.weights_file import load_weights, weight_files
from motion_core.motion.protocol import MAX_FRAMES

KINDS = ("vae", "denoiser", "baseline", "evaluator")
PRESETS = ("temporal", "paper")


@dataclass
class TrainConfig:
    batch_size: int = 128  # global batch, split across DDP ranks
    lr: float = 1e-4  # AdamW, constant after warm-up (paper and MLD: 1e-4 constant)
    weight_decay: float = 0.0
    warmup_steps: int = 100  # linear warm-up; keeps the first steps of a fresh transformer from blowing up
    lr_decay: str = "none"  # "none" (constant after warm-up, the paper and MLD) or "cosine": down to 10% of lr by
    # the end of the run, the end being `steps` or, when `minutes` is set and comes first, the time budget
    grad_clip: float = 1.0
    steps: int = 20000  # total steps of the run (a resumed run continues to this)
    minutes: float = 0.0  # wall-clock budget of this invocation; 0 = none. Saves a checkpoint when it runs out.
    log_every: int = 50
    checkpoint_every: int = 1000
    seed: int = 1234
    precision: str = "auto"  # "auto" (bf16 autocast on CUDA, fp32 on CPU), "bf16" or "fp32"
    text_dropout: float = 0.1  # denoisers: fraction of captions replaced by "" (classifier-free guidance)
    decoder_only: bool = False  # VAE: train the decoder alone; the latent space (and a denoiser trained on it) stays
    min_frames: int = 40
    max_frames: int = MAX_FRAMES
    preset: str = "temporal"  # VAE and denoiser shapes: "temporal" (conv VAE, ceil(T/4) x 32 latent; the shipped
    # default) or "paper" (MLD's transformer VAE with the [2, 256] latent, the paper's setting); `model` overrides either
    export_dtype: str = "float32"  # weights written to model/: "float32" or "float16" (half the size; loads as fp32)
    model: dict = field(default_factory=dict)  # overrides of the model's config dataclass

    @classmethod
    def from_dict(cls, values):
        config = load_dataclass(cls, values, "training")
        if config.precision not in ("auto", "bf16", "fp32"):
            raise ConfigError(f"precision must be auto, bf16 or fp32, not {config.precision!r}")
        if config.lr_decay not in ("none", "cosine"):
            raise ConfigError(f"lr_decay must be none or cosine, not {config.lr_decay!r}")
        if config.export_dtype not in ("float32", "float16"):
            raise ConfigError(f"export_dtype must be float32 or float16, not {config.export_dtype!r}")
        if config.preset not in PRESETS:
            raise ConfigError(f"preset must be one of {', '.join(PRESETS)}, not {config.preset!r}")
        return config


# ----------------------------------------------------------------------------------------------------- tasks


class Task:
    """What differs between kinds: how to build the model, its loss on a batch, how to export it."""

    kind = ""
    needs_vae = False

    def __init__(self, config: TrainConfig, dataset, device, vae_dir=None):
        self.config, self.dataset, self.device, self.vae_dir = config, dataset, device, vae_dir

    def build(self):
        raise NotImplementedError

    def loss(self, model, batch):
        """-> (scalar loss, {name: detached scalar tensor}). By default the model's own `training_loss`, run through
        `model` (in multi-GPU runs the DistributedDataParallel wrapper, whose forward syncs the gradients)."""
        return getattr(model, "module", model).training_loss(batch, forward=model)

    def export(self, model, directory):
        raise NotImplementedError

    def model_config(self, model):
        """JSON-able model config written to run.json, so a run can always rebuild its model."""
        return asdict(model.config)

    def sampler_options(self):
        """Extra BatchSampler options of this kind."""
        return {}


class EvaluatorTask(Task):
    kind = "evaluator"

    def build(self):
        values = {"feature_dim": self.dataset.feature_dim, "text_dim": self.dataset.captions.dim,
                  **self.config.model}
        return MotionTextEvaluator(EvaluatorConfig.from_dict(values))

    def loss(self, model, batch):
        return model(batch["motion"], batch["mask"], batch["text"])  # forward = the InfoNCE loss

    def export(self, model, directory):
        model.save_pretrained(directory)


class VAETask(Task):
    kind = "vae"  # its loss is the VAE's own training_loss

    def build(self):
        values = {"nfeats": self.dataset.feature_dim, **self.config.model}
        # keys and types checked before anything is built; the preset then fills in its shape
        vae_config = load_dataclass(VAEConfig, values, "VAE", prefix="model.")
        if self.config.preset == "temporal":
            vae_config = temporal_vae_config(**{key: getattr(vae_config, key) for key in values})
        try:
            check_vae_config(vae_config)
        except ConfigError as error:
            raise ConfigError(f"bad VAE settings in the training config: {error}") from None
        model = build_vae_from(vae_config)
        model.set_normalizer(self.dataset.mean, self.dataset.std)  # the joint loss needs de-normalised features
        return model.freeze_encoder() if self.config.decoder_only else model

    def export(self, model, directory):
        model.save_pretrained(directory, dtype=getattr(torch, self.config.export_dtype))


class DenoiserTask(Task):
    """Latent ε-prediction; kind "denoiser" trains Motion Mamba, "baseline" the MLD skip transformer."""

    needs_vae = True

    def __init__(self, config, dataset, device, vae_dir=None, kind="denoiser"):
        super().__init__(config, dataset, device, vae_dir)
        self.kind = kind

    def build(self):
        if self.vae_dir is None:
            raise MotionError(f"training the {self.kind} needs a trained VAE: add --vae RUN_DIR")
        self.vae = FeatureVAE.from_pretrained(self.vae_dir, self.device).eval().requires_grad_(False)
        # A VAE fitted on other data (fine-tuning the shipped model on your own corpus, or a rebuilt corpus whose
        # statistics moved) still sees features normalised as it was trained: the denoiser learns its latent space.
        self.dataset.use_statistics(self.vae.mean.cpu().numpy(), self.vae.std.cpu().numpy())
        denoiser_kind = "motion_mamba" if self.kind == "denoiser" else "mld"
        denoiser = asdict(denoiser_config_for(self.vae.config, denoiser_kind))
        denoiser["text_dim"] = self.dataset.captions.dim
        values = {"model": {"name": denoiser_kind.replace("_", "-"), "denoiser_kind": denoiser_kind,
                            "vae": asdict(self.vae.config), "denoiser": denoiser,
                            "diffusion": {"latent_scale": self._latent_scale()},
                            "text": {"dim": self.dataset.captions.dim}}}
        # the config's "model" holds denoiser fields, plus optional "diffusion" / "text" sections and "name"
        overrides = dict(self.config.model)
        for section in ("diffusion", "text"):
            values["model"].setdefault(section, {}).update(overrides.pop(section, {}))
        if "name" in overrides:
            values["model"]["name"] = overrides.pop("name")
        values["model"]["denoiser"].update(overrides)
        try:
            self.generator_config = ModelConfig.from_dict(values["model"])
        except ConfigError as error:
            raise ConfigError(f"bad model settings in the training config: {error}") from None
        self.schedule = NoiseSchedule(self.generator_config.diffusion)
        self.unconditional = torch.from_numpy(self.dataset.captions.lookup([""])[0]).to(self.device)
        return build_denoiser(self.generator_config)

    def model_config(self, model):
        return self.generator_config.to_dict()

    @property
    def temporal(self):
        return self.vae.config.arch == "conv"

    def sampler_options(self):
        # one latent length per batch: the denoisers then never see padded tokens
        return {"equal_lengths": self.temporal}

    @torch.no_grad()
    def _latent_scale(self, batches=16):
        """1 / std of the VAE's posterior samples over a few training batches, so diffusion sees unit-variance
        latents (the paper's [2, 256] latent keeps 1.0, as MLD trains on raw latents)."""
        if not self.temporal:
            return 1.0
        sampler = BatchSampler(self.dataset, 64, self.device, seed=12345, equal_lengths=True)
        samples = [self.vae.encode(b["motion"], b["lengths"])[0].float() for b in (sampler.next() for _ in
                                                                                     range(batches))]
        std = float(torch.cat([z.flatten() for z in samples]).std())
        return float(f"{1.0 / max(std, 1e-6):.3g}")  # 3 digits: a resumed run recomputes the same value

    def loss(self, model, batch):
        with torch.no_grad():
            z, _, _ = self.vae.encode(batch["motion"], batch["lengths"])  # posterior sample (B, tokens, channels)
        z = z.float() * self.generator_config.diffusion.latent_scale
        loss = self.schedule.training_loss(model, z, batch["text"], self.unconditional,
                                           uncond_prob=self.config.text_dropout)
        return loss, {"mse": loss.detach()}

    def export(self, model, directory):
        generator = MotionGenerator(self.vae, model, text_encoder=None, config=self.generator_config)
        generator.save_pretrained(directory, dtype=getattr(torch, self.config.export_dtype))


TASKS = {"vae": VAETask, "evaluator": EvaluatorTask,
         "denoiser": lambda *a, **k: DenoiserTask(*a, **k, kind="denoiser"),
         "baseline": lambda *a, **k: DenoiserTask(*a, **k, kind="baseline")}


def load_initial_weights(model, path, stem):
    """Warm start: copy weights whose names and shapes match `model` exactly, from a .safetensors file or from a
    model folder's `stem` files (one file or shards, e.g. a shipped generator folder's denoiser)."""
    path = Path(path)
    try:
        if path.is_dir() and weight_files(path, stem):
            tensors = load_weights(path, stem)
        elif path.suffix == ".safetensors" and path.is_file():
            tensors = load_file(str(path))
        else:
            raise MotionError(f"--init needs a .safetensors file or a folder with {stem}*.safetensors, got {path}")
    except SafetensorError as error:
        raise MotionError(f"{path} is not a readable safetensors file ({error}); pass another --init") from None
    own = model.state_dict()
    mismatched = sorted(k for k in own if k not in tensors or tuple(tensors[k].shape) != tuple(own[k].shape))
    extra = sorted(set(tensors) - set(own))
    if mismatched or extra:
        raise MotionError(f"{path} does not match this model ({len(mismatched)} missing or differently shaped, "
                          f"{len(extra)} unexpected tensors, e.g. {(mismatched + extra)[0]}); use weights of the "
                          "same model config")
    model.load_state_dict({k: v.to(own[k].dtype) for k, v in tensors.items()})


# ----------------------------------------------------------------------------------------------- loss curve


def read_loss_log(path):
    path = Path(path)
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def plot_loss_curve(log_path, png_path, title=""):
    """Plot every numeric loss channel of loss.jsonl against step (log scale when all positive)."""
    import matplotlib  # optional (the `preview` extra), and pyplot alone takes ~0.5 s: only when a curve is drawn

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = read_loss_log(log_path)
    if not rows:
        return None
    skip = {"step", "lr", "elapsed_s", "steps_per_s", "samples_per_s", "acc"}
    keys = [k for k in rows[-1] if k not in skip and isinstance(rows[-1][k], (int, float))]
    figure, axis = plt.subplots(figsize=(7, 4), dpi=100)
    steps = [r["step"] for r in rows]
    for key in keys:
        axis.plot(steps, [r.get(key, float("nan")) for r in rows], label=key, linewidth=1.2)
    if all(r.get(k, 1.0) > 0 for r in rows for k in keys):
        axis.set_yscale("log")
    axis.set_xlabel("step")
    axis.set_ylabel("loss")
    axis.set_title(title)
    axis.grid(alpha=0.3)
    axis.legend()
    figure.tight_layout()
    figure.savefig(png_path)
    plt.close(figure)
    return png_path


# ------------------------------------------------------------------------------------------------ the loop


def _distributed():
    """(rank, world_size, local_rank) from torchrun's environment, initialising the process group once."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return 0, 1, 0
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if not dist.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        if backend == "nccl":
            torch.cuda.set_device(local_rank)
        dist.init_process_group(backend)
    return dist.get_rank(), world, local_rank


def train(kind, data, out, config: TrainConfig = None, resume=False, vae=None, device="auto", steps=None,
          minutes=None, cache_path=None, progress=True, allow_missing_captions=False, init=None):
    """Train one model; returns a summary dict (steps, minutes, last losses).

    config: settings of a fresh run (a resumed run keeps its own); steps / minutes override either.
    init: a .safetensors file of the same model to start a fresh run from (warm start; optimizer starts fresh).
    """
    if kind not in KINDS:
        raise MotionError(f"unknown model kind {kind!r}; choose one of {', '.join(KINDS)}")
    rank, world, local_rank = _distributed()
    device = resolve_device(device, local_rank)  # 'auto' -> this rank's GPU, cuda:<local_rank>
    out = Path(out)
    run_file = out / "run.json"
    if resume:
        if not run_file.is_file():
            raise MotionError(f"{out} holds no run to resume (run.json missing); drop --resume")
        saved = json.loads(run_file.read_text())
        if saved["kind"] != kind:
            raise MotionError(f"{out} is a {saved['kind']} run, not {kind}")
        config = TrainConfig.from_dict(saved["train"])  # a resumed run may only change how long it runs
        vae = vae or saved.get("vae")
    else:
        config = config or TrainConfig()
        if (out / "checkpoint").exists():
            raise MotionError(f"{out} already holds a run; add --resume to continue it or pick another --out")
    if steps is not None:
        config.steps = int(steps)
    if minutes is not None:
        config.minutes = float(minutes)
    if config.batch_size % world:
        raise MotionError(f"batch size {config.batch_size} does not split over {world} processes")

    torch.manual_seed(config.seed)
    dataset = MotionTextDataset(data, "train", cache_path=cache_path, min_frames=config.min_frames,
                                max_frames=config.max_frames, allow_missing_captions=allow_missing_captions)
    task = TASKS[kind](config, dataset, device, vae_dir=vae)
    model = task.build()
    if init is not None and not resume:
        load_initial_weights(model, init, "vae" if kind == "vae" else "denoiser")
        # the corpus statistics are this run's, not those stored with the initial weights; a decoder-only run keeps
        # the initial ones, which its frozen encoder (and the denoiser fitted to its latent) were trained with
        if kind == "vae" and not config.decoder_only:
            model.set_normalizer(dataset.mean, dataset.std)
    model = model.to(device)
    parameters = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(parameters, lr=config.lr, weight_decay=config.weight_decay)
    if resume:
        state, rank_state = load_checkpoint(out, model, optimizer, rank)
    if kind == "vae" and config.decoder_only:  # the frozen encoder sees features normalised as it was trained
        dataset.use_statistics(model.mean.cpu().numpy(), model.std.cpu().numpy())
    sampler = BatchSampler(dataset, config.batch_size // world, device, seed=config.seed + 1000 * rank,
                           **task.sampler_options())
    torch.manual_seed(config.seed + 1000 * rank)  # noise/dropout streams differ per rank, fixed per run

    step, log_lines = 0, 0
    interval = {"count": 0, "sums": {}}
    log_path = out / "loss.jsonl"
    if resume:
        step, log_lines = state["step"], state["log_lines"]
        restore_rng_state(rank_state, sampler, device)
        interval = rank_state.get("interval") or {"count": 0, "sums": {}}
    if rank == 0:
        out.mkdir(parents=True, exist_ok=True)
        run_file.write_text(json.dumps({"kind": kind, "data": str(data), "vae": str(vae) if vae else None,
                                        "world_size": world, "train": asdict(config),
                                        "model_config": task.model_config(model)}, indent=2) + "\n")
        # drop log lines written after the checkpoint we resume from
        lines = log_path.read_text().splitlines()[:log_lines] if (resume and log_path.is_file()) else []
        log_path.write_text("".join(line + "\n" for line in lines))

    trainable = model
    if world > 1:
        trainable = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
    use_bf16 = config.precision == "bf16" or (config.precision == "auto" and device.type == "cuda")

    def checkpoint():
        interval = {"count": count, "sums": {k: float(v) for k, v in sums.items()}}
        states = [rng_state(sampler, device, interval)]
        if world > 1:
            gathered = [None] * world
            dist.all_gather_object(gathered, states[0])  # JSON-able dicts, in memory only
            states = gathered
        if rank == 0:
            save_checkpoint(out, model, optimizer, step, log_lines, states)

    bar = None
    if progress and rank == 0:
        bar = tqdm(total=config.steps, initial=step, desc=f"train {kind}", unit="step", mininterval=1.0,
                   dynamic_ncols=True)
    started = time.time()
    count, interval_start = interval["count"], time.time()
    sums = {k: torch.tensor(v, dtype=torch.float32, device=device) for k, v in interval["sums"].items()}
    interrupted = _StopOnInterrupt(enabled=world == 1)
    model.train()
    while step < config.steps and not interrupted.requested:
        # with DDP the clock is consulted every 10 steps only: each check is a broadcast from rank 0
        if config.minutes and (world == 1 or step % 10 == 0) and _should_stop(started, config.minutes, world, device):
            break
        batch = sampler.next()
        lr = learning_rate(config, step, time.time() - started)
        for group in optimizer.param_groups:
            group["lr"] = lr
        with torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=use_bf16):
            loss, parts = task.loss(trainable, batch)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if config.grad_clip:
            torch.nn.utils.clip_grad_norm_(parameters, config.grad_clip)
        optimizer.step()
        step += 1
        for key, value in {"loss": loss.detach(), **parts}.items():
            sums[key] = sums.get(key, 0.0) + value.float()
        count += 1
        if step % config.log_every == 0:
            row = _log_row(sums, count, world, step, optimizer, started, interval_start)
            row["samples_per_s"] = round(row["steps_per_s"] * config.batch_size, 1)
            if rank == 0:
                with open(log_path, "a") as handle:
                    handle.write(json.dumps(row) + "\n")
                log_lines += 1
                if bar is not None:
                    bar.set_postfix(loss=f"{row['loss']:.4f}")
            sums, count, interval_start = {}, 0, time.time()
        if bar is not None:
            bar.update(1)
        if step % config.checkpoint_every == 0:
            checkpoint()
    interrupted.restore()
    if bar is not None:
        bar.close()
    checkpoint()
    minutes = (time.time() - started) / 60.0
    summary = {"kind": kind, "step": step, "target_steps": config.steps, "minutes": round(minutes, 2),
               "world_size": world, "device": str(device), "segments": len(dataset),
               "hours": round(dataset.hours, 3)}
    if rank == 0:
        model.eval()
        task.export(model, out / "model")
        plot_loss_curve(log_path, out / "loss.png", title=f"{kind} ({out.name})")
        rows = read_loss_log(log_path)
        summary["last"] = rows[-1] if rows else None
        (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
        if interrupted.requested:
            print(f"interrupted at step {step}: checkpoint saved, continue with --resume", flush=True)
    if world > 1:
        dist.destroy_process_group()
    return summary


def learning_rate(config: TrainConfig, step, elapsed_s):
    """Linear warm-up over warmup_steps, then constant or cosine decay to 10% (see TrainConfig.lr_decay)."""
    lr = config.lr * min(1.0, (step + 1) / max(config.warmup_steps, 1))
    if config.lr_decay == "cosine":
        done = step / max(config.steps, 1)
        if config.minutes:
            done = max(done, elapsed_s / (config.minutes * 60.0))
        lr *= 0.1 + 0.9 * 0.5 * (1.0 + np.cos(np.pi * min(done, 1.0)))
    return lr


class _StopOnInterrupt:
    """First Ctrl-C asks the loop to stop after the current step (then it checkpoints and exports as usual);
    a second one interrupts at once. Single-process runs only: under torchrun the launcher owns the signals."""

    def __init__(self, enabled):
        self.requested = False
        self._previous = None
        if enabled and threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handle)

    def _handle(self, signum, frame):
        self.requested = True
        signal.signal(signal.SIGINT, self._previous)

    def restore(self):
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
            self._previous = None


def _should_stop(started, minutes, world, device):
    stop = torch.tensor([1.0 if time.time() - started > minutes * 60.0 else 0.0], device=device)
    if world > 1:
        dist.broadcast(stop, 0)  # rank 0's clock decides, so every rank stops at the same step
    return bool(stop.item())


def _log_row(sums, count, world, step, optimizer, started, interval_start):
    names = sorted(sums)
    values = torch.stack([sums[k] for k in names]) / max(count, 1)
    if world > 1:
        dist.all_reduce(values)
        values /= world
    row = {"step": step}
    row.update({k: round(float(v), 6) for k, v in zip(names, values.tolist())})
    row["lr"] = optimizer.param_groups[0]["lr"]
    row["elapsed_s"] = round(time.time() - started, 2)
    row["steps_per_s"] = round(count / max(time.time() - interval_start, 1e-9), 2)
    return row
