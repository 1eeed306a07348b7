"""Training checkpoints: everything a run needs to continue exactly where it stopped, and nothing pickled.

A run folder's checkpoint/ holds:
  model*.safetensors, optimizer*.safetensors   the model and the AdamW moments, in shards of <= 15 MiB
  state.json                                   step, loss-log length, the optimizer's param groups
  state_rank<r>.json                           per DDP rank: RNG states (torch, CUDA, the batch sampler) and the loss
                                               sums of the unfinished log interval
It is written to checkpoint.tmp and renamed, so an interrupted save never leaves a half checkpoint behind.
"""

import base64
import json
import shutil
from pathlib import Path

import numpy as np
import torch

from motion_core.errors import MotionError
from motion_core.models.weights_file import load_weights, save_weights


def _b64(tensor):
    return base64.b64encode(tensor.cpu().numpy().tobytes()).decode("ascii")


def _from_b64(text):
    return torch.from_numpy(np.frombuffer(base64.b64decode(text), dtype=np.uint8).copy())


def optimizer_to_tensors(optimizer):
    """AdamW state as flat tensors {'state.<param>.<key>': tensor} plus JSON-able param groups."""
    state = optimizer.state_dict()
    tensors = {}
    for index, values in state["state"].items():
        for key, value in values.items():
            tensors[f"state.{index}.{key}"] = (value if torch.is_tensor(value) else torch.tensor(value)).cpu()
    return tensors, state["param_groups"]


def optimizer_from_tensors(optimizer, tensors, param_groups):
    state = {}
    for name, value in tensors.items():
        _, index, key = name.split(".", 2)
        state.setdefault(int(index), {})[key] = value
    optimizer.load_state_dict({"state": state, "param_groups": param_groups})


def save_checkpoint(run_dir, model, optimizer, step, log_lines, rank_states):
    """Write checkpoint/ atomically: a fresh folder next to it, then a rename. Model and optimizer tensors go to
    safetensors files of at most 15 MiB each (shards), so a checkpoint can travel through size-limited transfers."""
    run_dir = Path(run_dir)
    fresh = run_dir / "checkpoint.tmp"
    shutil.rmtree(fresh, ignore_errors=True)
    fresh.mkdir(parents=True)
    save_weights(model.state_dict(), fresh, "model")
    tensors, groups = optimizer_to_tensors(optimizer)
    save_weights(tensors, fresh, "optimizer")
    (fresh / "state.json").write_text(json.dumps({"step": step, "log_lines": log_lines, "param_groups": groups},
                                                 indent=2) + "\n")
    for rank, rank_state in enumerate(rank_states):
        (fresh / f"state_rank{rank}.json").write_text(json.dumps(rank_state) + "\n")
    old = run_dir / "checkpoint"
    if old.exists():
        shutil.rmtree(run_dir / "checkpoint.old", ignore_errors=True)
        old.rename(run_dir / "checkpoint.old")
    fresh.rename(old)
    shutil.rmtree(run_dir / "checkpoint.old", ignore_errors=True)


def load_checkpoint(run_dir, model, optimizer, rank):
    """Restore model and optimizer from run_dir/checkpoint -> (state.json dict, this rank's state dict)."""
    folder = Path(run_dir) / "checkpoint"
    if not (folder / "state.json").is_file():
        raise MotionError(f"no checkpoint in {run_dir}; start without --resume")
    state = json.loads((folder / "state.json").read_text())
    model.load_state_dict(load_weights(folder, "model"))
    optimizer_from_tensors(optimizer, load_weights(folder, "optimizer"), state["param_groups"])
    rank_file = folder / f"state_rank{rank}.json"
    if not rank_file.is_file():
        raise MotionError(f"{rank_file} is missing: resume with the number of processes the run was started with")
    return state, json.loads(rank_file.read_text())


def rng_state(sampler, device, interval=None):
    """RNG states of this process, plus the loss sums of the unfinished log interval (so logs resume exactly)."""
    state = {"torch": _b64(torch.get_rng_state()), "sampler": sampler.state(), "interval": interval}
    if device.type == "cuda":
        state["cuda"] = _b64(torch.cuda.get_rng_state(device))
    return state


def restore_rng_state(state, sampler, device):
    torch.set_rng_state(_from_b64(state["torch"]))
    sampler.set_state(state["sampler"])
    if device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state(_from_b64(state["cuda"]), device)
