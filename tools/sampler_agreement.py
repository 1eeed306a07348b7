"""How far fewer sampler steps move a generation from the 50-step DDIM one (same seed, same initial noise):
`.venv/bin/python tools/sampler_agreement.py` prints JSON (docs/results/sampler_agreement_2core_cpu.json)."""
import json, time
import numpy as np
from motion_core.evaluate_actions import load_suite, pick
from motion_core.generator import MotionGenerator
from motion_core.metrics import foot_skate_ratio
gen = MotionGenerator.from_pretrained("motion_core/weights/default")
prompts = [r["prompt"] for r in pick(load_suite(), 12) if r.get("expect")][:10]
settings = [("ddim", 50), ("ddim", 20), ("dpmpp_2m", 20), ("ddim", 10), ("dpmpp_2m", 10)]
out = {f"{s}_{n}": {"joint_cm_from_ddim50": [], "skate": [], "seconds": []} for s, n in settings}
for p in prompts:
    ref = None
    for s, n in settings:
        gen.sampler = s
        t = time.time()
        j = gen.generate(p, seconds=6, seed=0, steps=n, device="cpu", split_sequence=False).joints
        row = out[f"{s}_{n}"]
        row["seconds"].append(time.time() - t)
        ref = j if ref is None else ref
        rel = lambda x: x - x[:, :1]
        row["joint_cm_from_ddim50"].append(float(np.linalg.norm(rel(j) - rel(ref), axis=-1).mean() * 100))
        row["skate"].append(foot_skate_ratio(j))
summary = {k: {m: float(np.median(v)) for m, v in row.items()} for k, row in out.items()}
print(json.dumps({"prompts": prompts, "median_over_prompts": summary}, indent=1))
