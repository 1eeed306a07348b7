"""Model weights on disk: safetensors only (never pickle), in one file or in shards.

A module's weights are `<stem>.safetensors`, or, when larger than `max_shard_bytes`, shards
`<stem>-00001-of-00003.safetensors` ... (each under 16 MiB, so weights fit transfer limits and git hosts' file
limits). `load_weights` reads either form; a folder holding both, or an incomplete set of shards, is an error.
"""

import re
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from motion_core.errors import MotionError

MAX_SHARD_BYTES = 15 * 2 ** 20


def model_folder(path):
    """The folder holding a model's files: a training run folder's model/, or `path` itself (a model folder)."""
    path = Path(path)
    return path / "model" if (path / "model").is_dir() else path


def weight_files(folder, stem):
    """The files holding `stem`'s weights in `folder`: [stem.safetensors], the shards in order, or []."""
    folder = Path(folder)
    single = folder / f"{stem}.safetensors"
    pattern = _shard_pattern(stem)
    shards = sorted((p for p in folder.glob(f"{stem}-*-of-*.safetensors") if pattern.match(p.name)),
                    key=lambda p: p.name)
    if single.is_file() and shards:
        raise MotionError(f"{folder} holds both {single.name} and {shards[0].name}; keep one form of the weights")
    if single.is_file():
        return [single]
    if not shards:
        return []
    total = int(pattern.match(shards[0].name).group(2))
    numbers = [int(pattern.match(p.name).group(1)) for p in shards]
    counts = {int(pattern.match(p.name).group(2)) for p in shards}
    if counts != {total} or numbers != list(range(1, total + 1)):
        raise MotionError(f"the shards of {stem} in {folder} are incomplete (found {len(shards)}, expected {total}); "
                          "copy the whole weights folder again")
    return shards


def save_weights(state, folder, stem, dtype=None, max_shard_bytes=MAX_SHARD_BYTES, metadata=None):
    """Write a state dict as `stem`.safetensors or as shards; floating tensors cast to `dtype` when given, except the
    normaliser statistics (`mean`, `std`), which stay float32: they are data, not weights, and loaders check them.

    metadata: extra {str: str} stored in every file's header (read back by `weight_header`).
    Returns the written paths. Old files of the same stem are removed first, so the folder never mixes two saves.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tensors = {}
    for name, value in state.items():
        value = value.detach().to("cpu")
        if dtype is not None and value.is_floating_point() and name.rsplit(".", 1)[-1] not in ("mean", "std"):
            value = value.to(dtype)
        tensors[name] = value.contiguous()
    groups, current, size = [], {}, 0
    for name, value in tensors.items():
        nbytes = value.numel() * value.element_size()
        if current and size + nbytes > max_shard_bytes:
            groups.append(current)
            current, size = {}, 0
        current[name] = value
        size += nbytes
    groups.append(current)
    for old in _saved_files(folder, stem):
        old.unlink()
    if len(groups) == 1:
        paths = [folder / f"{stem}.safetensors"]
    else:
        paths = [folder / f"{stem}-{i:05d}-of-{len(groups):05d}.safetensors" for i in range(1, len(groups) + 1)]
    for path, group in zip(paths, groups):
        save_file(group, str(path), metadata={"format": "pt", **(metadata or {})})
    return paths


def _shard_pattern(stem):
    return re.compile(rf"^{re.escape(stem)}-(\d{{5}})-of-(\d{{5}})\.safetensors$")


def _saved_files(folder, stem):
    """Every file a save of `stem` may have written (one file, any shards), complete or not."""
    pattern = _shard_pattern(stem)
    return [p for p in Path(folder).glob(f"{stem}*.safetensors")
            if p.name == f"{stem}.safetensors" or pattern.match(p.name)]


def _required_files(folder, stem):
    """weight_files, or a MotionError when there are none."""
    paths = weight_files(folder, stem)
    if not paths:
        raise MotionError(f"{Path(folder) / (stem + '.safetensors')} is missing; copy the complete weights folder or "
                          "re-export it with save_pretrained")
    return paths


def load_weights(folder, stem):
    """{name: tensor} from `stem`'s file or shards in `folder`; MotionError names what is missing or damaged."""
    paths = _required_files(folder, stem)
    state = {}
    for path in paths:
        try:
            state.update(load_file(str(path)))
        except Exception as error:  # safetensors raises its own error types for truncated or garbled files
            raise MotionError(f"{path} is damaged or truncated ({error}); copy or download it again") from None
    return state


def weight_header(folder, stem):
    """({name: shape}, metadata) of `stem`'s file or shards, from the safetensors headers alone (no tensor is read),
    so a model's shapes can be checked against the files before any memory is allocated for it."""
    paths = _required_files(folder, stem)
    shapes, metadata = {}, {}
    for path in paths:
        try:
            with safe_open(str(path), "pt") as handle:
                metadata.update(handle.metadata() or {})
                for name in handle.keys():
                    shapes[name] = tuple(handle.get_slice(name).get_shape())
        except Exception as error:  # safetensors raises its own error types for truncated or garbled files
            raise MotionError(f"{path} is damaged or truncated ({error}); copy or download it again") from None
    return shapes, metadata


def cast_state(state, like):
    """Cast loaded tensors to the dtypes of the module's own state (fp16 files load into fp32 modules)."""
    return {k: v.to(like[k].dtype) if k in like and torch.is_tensor(v) else v for k, v in state.items()}
