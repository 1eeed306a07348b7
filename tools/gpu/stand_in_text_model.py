"""A stand-in all-MiniLM-L6-v2 folder for the GPU machine: the real config and tokenizer, seeded random weights of the
real shapes. The real model (87 MB) cannot travel with the checkout (64 MiB a call); timing text encoding needs only
its shapes and tokenizer, and nothing that uses this folder reads what the embeddings mean.

    here:   python tools/gpu/stand_in_text_model.py .gpu_text          config, tokenizer and shapes.json (0.5 MB)
    there:  python tools/gpu/stand_in_text_model.py .gpu_text --fill   writes model.safetensors
            export MOTION_CORE_TEXT_MODEL_DIR=$PWD/.gpu_text
"""

import argparse
import json
import shutil
import sys
from pathlib import Path

FILES = ("config.json", "tokenizer.json")


def prepare(folder):
    from safetensors import safe_open

    from motion_core.models.text_encoder import text_model_dir

    source = text_model_dir()
    folder.mkdir(parents=True, exist_ok=True)
    for name in FILES:
        shutil.copyfile(source / name, folder / name)
    with safe_open(source / "model.safetensors", "np") as f:
        shapes = {key: list(f.get_slice(key).get_shape()) for key in f.keys()}
    (folder / "shapes.json").write_text(json.dumps(shapes))


def fill(folder, seed=0):
    import torch
    from safetensors.torch import save_file

    g = torch.Generator().manual_seed(seed)
    shapes = json.loads((folder / "shapes.json").read_text())
    tensors = {key: torch.randn(shape, generator=g) * 0.02 for key, shape in shapes.items()}
    save_file(tensors, str(folder / "model.safetensors"))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--fill", action="store_true", help="write the random weights (on the GPU machine)")
    args = parser.parse_args(argv)
    fill(args.folder) if args.fill else prepare(args.folder)


if __name__ == "__main__":
    sys.exit(main())
