"""The action prompt suite on the GPU machine, which has no MiniLM files: prompt embeddings are computed beforehand
(.gpu/prompt_embeddings.safetensors, by the same text encoder) and looked up here."""
import json, os, sys
import torch
from safetensors.torch import load_file
from motion_core.evaluate_actions import evaluate_actions, load_suite, pick
from motion_core.generator import MotionGenerator

class LookupTextEncoder:
    def __init__(self, path):
        from safetensors import safe_open
        with safe_open(path, framework="pt") as f:
            self.prompts = json.loads(f.metadata()["prompts"])
            self.table = f.get_tensor("embeddings").float()
        self.row = {p: i for i, p in enumerate(self.prompts)}
    def encode(self, prompts):
        return self.table[[self.row[p.strip()] for p in prompts]].to(self.device)
    def to(self, device):
        self.device = device
        return self
    device = "cpu"

weights, out = sys.argv[1], sys.argv[2]
device = sys.argv[3] if len(sys.argv) > 3 else "cuda"
guidance = float(os.environ.get("GUIDANCE", 7.5))  # GUIDANCE / STEPS: sampler settings to compare
steps = int(os.environ["STEPS"]) if os.environ.get("STEPS") else None
gen = MotionGenerator.from_pretrained(weights, text_encoder=LookupTextEncoder(".gpu/prompt_embeddings.safetensors"))
gen.sampler = os.environ.get("SAMPLER") or gen.sampler  # SAMPLER=dpmpp_2m compares the faster solver
rows = load_suite()
if os.environ.get('LIMIT'):
    rows = pick(rows, int(os.environ['LIMIT']))
result = evaluate_actions(gen, rows, seeds=3, device=device, out=out, guidance=guidance, steps=steps, reference=False)
print(json.dumps({k: v for k, v in result.items() if k in ("overall", "summary", "pass_rate")}, default=str)[:2000])
