"""Where a denoiser call's GPU time goes: one guided call (batch 2, a 9.8-s latent) of the shipped Motion Mamba with
fused blocks (HTM's LayerNorm in its in_proj, or apart), with reference blocks, and of a random MLD baseline at the
temporal preset. Per variant: kernels, replay time of the call captured as a CUDA graph (median of 200), and the top
kernels by GPU time (profiler).
Prints one JSON object. Run on the GPU machine: python3 tools/gpu/profile_denoiser.py > out.json
FUSED_SETTINGS=file.json (tools/gpu/tune_fused.py's best) sets the fused blocks' launch settings first.
"""

import json
import os
import statistics
import sys

import torch
from torch.profiler import ProfilerActivity, profile

from motion_core.cuda_graphs import capture
from motion_core.generator import MotionGenerator
from motion_core.models.config import ModelConfig
from motion_core.ssm import fused_block


def guided_call(denoiser):
    """One guided denoiser call (batch 2, the longest latent, t = 500) as a function of nothing; build and call it
    under inference_mode."""
    c = denoiser.config
    z = torch.randn(2, c.latent_size, c.latent_dim, device="cuda")
    time_tok = denoiser.cond.time_token(torch.full((2,), 500, device="cuda"))
    text_tok = denoiser.cond.text_token(torch.randn(2, c.text_dim, device="cuda"))
    return lambda: denoiser.forward_tokens(z, time_tok, text_tok)


def replay_us(call, repeats=200):
    """`call` captured as a CUDA graph: the median GPU time of a replay (us) and a copy of its output."""
    graph, out = capture(torch.device("cuda"), call)
    times = []
    for _ in range(repeats):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        graph.replay()
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end) * 1e3)
    return statistics.median(times), out.clone()


def measure(denoiser, fused, norms=True, top=12):
    saved = fused_block.settings()
    fused_block.enabled = fused
    fused_block.configure(fuse_norms=norms)
    with torch.inference_mode():
        call = guided_call(denoiser)
        call()
        torch.cuda.synchronize()
        with profile(activities=[ProfilerActivity.CUDA]) as prof:
            call()
            torch.cuda.synchronize()
        replay, _ = replay_us(call)
    kernels = [e for e in prof.events() if e.device_type.name == "CUDA"]
    by_name = {}
    for e in kernels:
        total, count = by_name.get(e.name, (0.0, 0))
        by_name[e.name] = (total + e.device_time, count + 1)
    ranked = sorted(by_name.items(), key=lambda kv: -kv[1][0])[:top]
    fused_block.enabled = True
    fused_block.configure(**saved)
    return {"kernels": len(kernels), "graph_replay_us_median": replay,
            "kernel_time_us_sum": sum(e.device_time for e in kernels),
            "top_kernels": [{"name": n[:90], "us": round(t, 2), "count": k} for n, (t, k) in ranked]}


def main():
    if os.environ.get("FUSED_SETTINGS"):
        with open(os.environ["FUSED_SETTINGS"]) as f:
            fused_block.configure(**json.load(f))
    gen = MotionGenerator.from_pretrained(with_text_encoder=False)
    mm = gen.denoiser.to("cuda").eval()
    mld = MotionGenerator.random(ModelConfig.temporal("mld"), seed=0, text_encoder=False).denoiser.to("cuda").eval()
    out = {"device": torch.cuda.get_device_name(), "torch": torch.__version__, "call": "batch 2, 49 latent tokens",
           "fused_settings": fused_block.settings(),
           "motion_mamba_fused": measure(mm, True),
           "motion_mamba_fused_separate_norms": measure(mm, True, norms=False),
           "motion_mamba_reference": measure(mm, False),
           "mld": measure(mld, True)}
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    sys.exit(main())
