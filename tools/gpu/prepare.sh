#!/usr/bin/env bash
# Here (CPU, with the text encoder installed): fill the git-ignored .gpu/ folder that round_all.sh reads on the GPU
# machine, which has no MiniLM files. HOURS=N: hours of procedural motion (default: `corpus build`'s), the same N
# round_all.sh must be given there. The corpus itself is rebuilt there in ~25 s from the same seed, so only the CMU
# pack (1.6 MB), the caption embeddings of that corpus (13.5 MB for 4 h) and the prompt-suite embeddings (0.3 MB)
# travel; past about 17 MB of embeddings see cache_parts.py.
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=${PY:-.venv/bin/python}
mkdir -p .gpu
$PY -m motion_core corpus pack-cmu --out .gpu/cmu_joints.npz
$PY -m motion_core corpus build --out /tmp/corpus --cmu .gpu/cmu_joints.npz --workers 2 --seed 0 ${HOURS:+--hours $HOURS} --overwrite
$PY - <<'PY'
import json
from safetensors.torch import save_file
from motion_core.data.dataset import MotionTextDataset
from motion_core.evaluate_actions import load_suite
from motion_core.motion.action_prompt import sequence_parts
from motion_core.models.text_encoder import TextEncoder

for split in ("train", "val", "test"):
    MotionTextDataset("/tmp/corpus", split)  # embeds every caption into /tmp/corpus/caption_embeddings.safetensors
suite = [row["prompt"].strip() for row in load_suite()]
# the generator splits "A, then B" into its parts (generate(split_sequence=True)): their embeddings travel too
prompts = sorted(set(suite) | {part.strip() for prompt in suite for part in sequence_parts(prompt)} | {""})
embeddings = TextEncoder().encode(prompts).float().contiguous()
save_file({"embeddings": embeddings}, ".gpu/prompt_embeddings.safetensors", metadata={"prompts": json.dumps(prompts)})
PY
cp /tmp/corpus/caption_embeddings.safetensors .gpu/
ls -la .gpu
