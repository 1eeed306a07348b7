"""`motion-mamba bench generate`: how fast prompt -> motion is, Motion Mamba against the MLD baseline, one process.

Measured (random weights at the temporal or paper preset, or Motion Mamba's trained weights with --weights; speed
does not depend on training), for Motion Mamba on its fused CUDA blocks, the same model on the reference blocks
(CUDA only), and MLD:
- AITS (average inference time per sentence; MLD/MotionLCM's definition): batch 1, 196 frames (9.8 s), 50 DDIM steps,
  classifier-free guidance 7.5, text encoding (a new prompt each repeat) and VAE decoding to joints included, model
  loading, the foot cleanup and prompt splitting excluded. Median over repeats of `MotionGenerator.generate`, for
  each denoiser, eager and as CUDA graphs.
- Where the time goes (CUDA graphs): text encoding, the 50-step loop, decoding; CUDA kernels per denoiser call.
- Throughput: clips/s at batch 64 and 256 (CUDA graphs).
- CPU: one 10-s clip (196 frames at 20 fps; 9.8 s is the longest segment) on 2 threads, each denoiser.
Results on an H100 host: docs/results/generate_bench_h100*.json.
Prints one JSON object (--json) or a short table; --out also writes the JSON to a file.
"""

import contextlib
import json
import platform
import statistics
import sys
import time

from motion_core.motion.protocol import MAX_FRAMES

HELP = "generation speed: Motion Mamba vs MLD (AITS eager/CUDA graph, clips/s batched, CPU 10-s clip)"
KINDS = ("motion_mamba", "mld")
# What is timed, in order: Motion Mamba with its fused CUDA blocks (the default), the same model on the reference
# block path (CUDA only; the fused path's before), and MLD. name -> (denoiser kind, fused blocks on)
VARIANTS = {"motion_mamba": ("motion_mamba", True), "motion_mamba_unfused": ("motion_mamba", False),
            "mld": ("mld", True)}
FRAMES = MAX_FRAMES  # the longest segment, 9.8 s
STEPS = 50
GUIDANCE = 7.5
TARGETS = {"gpu_aits_ms_max": 5.0, "speedup_vs_mld_min": 5.0, "clips_per_s_min": 2000.0, "cpu_10s_clip_s_max": 0.5}


def add_arguments(parser):
    parser.add_argument("--device", default="auto", choices=["auto", "cuda", "cpu"],
                        help="where to time AITS and throughput (default: cuda when available)")
    parser.add_argument("--json", action="store_true", help="print only the JSON object")
    parser.add_argument("--repeats", type=int, default=10, help="timed repeats per AITS figure (median reported)")
    parser.add_argument("--eager-repeats", type=int, default=3, help="timed repeats for the (slow) eager path")
    parser.add_argument("--batches", default="64,256", help="batch sizes for the throughput figure")
    parser.add_argument("--cpu-threads", type=int, default=2, help="threads for the CPU figure (0: skip it)")
    parser.add_argument("--cpu-repeats", type=int, default=1, help="timed repeats for the CPU figure")
    parser.add_argument("--out", default=None, help="also write the JSON to this file")
    parser.add_argument("--sections", default="eager,graph,throughput,cpu",
                        help="what to measure, comma-separated from: eager, graph, throughput, compiled (CUDA graphs "
                             "over a torch.compile'd denoiser; compiling takes minutes), cpu, cpu_paths (Motion "
                             "Mamba's CPU code paths before/after, interleaved), cpu_samplers (Motion Mamba's CPU "
                             "generate() per --samplers pair, interleaved)")
    parser.add_argument("--cpu-loop-threads", default="1,0",
                        help="threads for the CPU denoising loop, comma-separated, each its own CPU figure "
                             "(1: the generator's default; 0: all --cpu-threads)")
    parser.add_argument("--weights", default=None,
                        help="Motion Mamba weights folder ('default': the shipped model) instead of random weights")
    parser.add_argument("--samplers", default="ddim:50,ddim:20,dpmpp_2m:20,ddim:10,dpmpp_2m:10",
                        help="sampler:steps pairs timed by the cpu_samplers section")
    parser.add_argument("--tiny", action="store_true", help="tiny random models (checks the benchmark itself runs)")
    parser.add_argument("--preset", default="temporal", choices=["temporal", "paper"],
                        help="model shapes: the temporal latent (default, shipped) or the paper's [2, 256] latent")


def _median_ms(fn, repeats, sync):
    times = []
    for i in range(repeats):
        sync()
        start = time.perf_counter()
        fn(i)
        sync()
        times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times)


def _prompt(i):
    # a different prompt each repeat, so text encoding is really timed (the "" of guidance stays cached, as in use)
    return f"a person walks forward, turns left and waves {i}"


def _generate_clip(gen, i, seed, device, steps=STEPS, **options):
    """Prompt i as one 9.8-s clip: split_sequence=False, or generate() would make its "walks forward, turns left and
    waves" a 3-segment timeline. options: more generate() arguments (sampler, foot_cleanup)."""
    return gen.generate(_prompt(i), FRAMES / 20, seed=seed, steps=steps, guidance=GUIDANCE, device=device,
                        split_sequence=False, **options)


def _timed_generate(gen, i, seed, device):
    """One AITS call: the model's work from prompt to joints, without the foot cleanup (host-side post-processing,
    off in MLD's AITS too)."""
    return _generate_clip(gen, i, seed, device, foot_cleanup=False)


def _kernels_per_call(gen, torch):
    """CUDA kernels one denoiser call (guidance batch of 2) launches, counted with the profiler."""
    from torch.profiler import ProfilerActivity, profile

    c = gen.config
    z = torch.randn(2, *gen.vae.latent_shape(FRAMES), device=gen.device)
    t = torch.full((2,), 500, device=gen.device)
    text = torch.randn(2, c.text.dim, device=gen.device)
    with torch.inference_mode():
        gen.denoiser(z, t, text)
        torch.cuda.synchronize()
        with profile(activities=[ProfilerActivity.CUDA]) as prof:
            gen.denoiser(z, t, text)
            torch.cuda.synchronize()
    return sum(1 for e in prof.events() if e.device_type.name == "CUDA")


def measure(args, log=lambda message: None):
    import torch

    from motion_core.device import resolve_device
    from motion_core.generator import MotionGenerator
    from motion_core.models.config import ModelConfig
    from motion_core.models.text_encoder import TextEncoder
    from motion_core.ssm import fused_block

    device = resolve_device(args.device)
    cuda = device.type == "cuda"
    sync = torch.cuda.synchronize if cuda else (lambda: None)
    result = {
        "benchmark": "generate",
        "device": torch.cuda.get_device_name(device) if cuda else _cpu_name(),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "setup": {"frames": FRAMES, "steps": STEPS, "guidance": GUIDANCE, "batch": 1, "weights": "random",
                  "aits": "median wall time of MotionGenerator.generate: text encoding + 50-step DDIM with guidance "
                          "+ VAE decoding + joints, model load excluded"},
        "targets": TARGETS,
        "config": "tiny" if args.tiny else getattr(args, "preset", "temporal"),
        "models": {},
        "errors": {},
    }
    try:
        from motion_core.ssm.backends import choose_backend

        probe = torch.zeros(1, 8, 4, device=device)
        result["scan_backend"] = choose_backend(probe)
    except Exception as error:  # the benchmark still runs; the field says why it is unknown
        result["scan_backend"] = f"unknown ({error})"

    sections = {name.strip() for name in args.sections.split(",") if name.strip()}
    result["sections"] = sorted(sections)
    text_encoder = TextEncoder()
    batches = [int(b) for b in args.batches.split(",") if b.strip()]
    generators = {}
    for name, (kind, fused) in VARIANTS.items():
        if not fused and not cuda:
            continue  # the fused blocks are CUDA-only: on CPU both would time the same path
        if args.tiny:
            config = ModelConfig.tiny(kind)
        elif getattr(args, "preset", "temporal") == "paper":
            config = ModelConfig.default(kind)
        else:
            config = ModelConfig.temporal(kind)
        weights = getattr(args, "weights", None)
        if kind == "motion_mamba" and weights:
            gen = MotionGenerator.from_pretrained(None if weights == "default" else weights, text_encoder=text_encoder)
            result["setup"]["weights"] = str(gen.weights_dir)
        else:
            gen = MotionGenerator.random(config, seed=0, text_encoder=text_encoder)
        if fused:
            generators[kind] = gen
        entry = result["models"][name] = {"params": gen.parameter_counts()}
        gen.to(device)
        fused_block.enabled = fused
        try:
            if cuda:
                try:
                    entry["kernels_per_denoiser_call"] = _kernels_per_call(gen, torch)
                except Exception as error:
                    entry["kernels_per_denoiser_call"] = f"not counted ({type(error).__name__}: {error})"
            modes = [m for m, name in ((False, "eager"), (True, "graph")) if name in sections and (cuda or not m)]
            for graphs in modes:
                label = "graph" if graphs else "eager"
                gen.use_cuda_graphs = graphs
                _timed_generate(gen, -1, 0, device)  # warm-up
                repeats = args.repeats if graphs or not cuda else args.eager_repeats
                entry[f"aits_ms_{label}"] = _median_ms(
                    lambda i: _timed_generate(gen, i, i, device), repeats, sync)
                log(f"{name} {label}: AITS {entry[f'aits_ms_{label}']:.2f} ms")
            if cuda and "graph" in sections:
                entry["breakdown_ms_graph"] = _breakdown(gen, torch, args.repeats)
            if cuda and "throughput" in sections:
                gen.use_cuda_graphs = True
                entry["clips_per_s"] = {}
                for batch in batches:
                    gen.sample(_prompt(0), FRAMES, seed=0, steps=STEPS, guidance=GUIDANCE, variations=batch)
                    ms = _median_ms(lambda i: gen.sample(_prompt(0), FRAMES, seed=i, steps=STEPS, guidance=GUIDANCE,
                                                         variations=batch), max(3, args.repeats // 3), sync)
                    entry["clips_per_s"][str(batch)] = batch / (ms / 1e3)
                    log(f"{name} batch {batch}: {entry['clips_per_s'][str(batch)]:.0f} clips/s")
            if cuda:
                gen._graphs.clear()
                torch.cuda.empty_cache()
                if "compiled" in sections:
                    gen.use_cuda_graphs = True
                    start = time.perf_counter()
                    gen.compile_denoiser()
                    _timed_generate(gen, -1, 0, device)
                    entry["compile_s"] = time.perf_counter() - start
                    entry["aits_ms_graph_compiled"] = _median_ms(
                        lambda i: _timed_generate(gen, i, i, device), args.repeats, sync)
                    log(f"{name} graph+compile: AITS {entry['aits_ms_graph_compiled']:.2f} ms")
                    gen._denoiser_call = None
                    gen._graphs.clear()
        except Exception as error:
            result["errors"][name] = f"{type(error).__name__}: {error}"
            log(f"{name}: {result['errors'][name]}")
        finally:
            fused_block.enabled = True
            if not fused:
                gen.to("cpu")  # frees its GPU memory (and drops its graphs) for the variants after it
        _save_partial(args, result)

    if args.cpu_threads > 0 and "cpu" in sections:
        previous = torch.get_num_threads()
        torch.set_num_threads(args.cpu_threads)
        result["cpu"] = {"threads": args.cpu_threads, "clip_seconds": FRAMES / 20}
        try:
            for kind, gen in generators.items():
                gen.to("cpu")
                gen.generate(_prompt(-1), 2.0, seed=0, steps=2, device="cpu")  # warm-up
                for loop_threads in [int(t) for t in args.cpu_loop_threads.split(",")]:
                    gen.cpu_loop_threads = loop_threads or None
                    suffix = "" if loop_threads == 1 else f"_loop_threads_{loop_threads or args.cpu_threads}"
                    result["cpu"][f"{kind}_s{suffix}"] = _median_ms(
                        lambda i: _generate_clip(gen, i, i, "cpu"), args.cpu_repeats, lambda: None) / 1e3
                    log(f"{kind} cpu (loop threads {loop_threads or args.cpu_threads}): "
                        f"{result['cpu'][f'{kind}_s{suffix}']:.2f} s")
                gen.cpu_loop_threads = 1
        except Exception as error:
            result["errors"]["cpu"] = f"{type(error).__name__}: {error}"
        finally:
            torch.set_num_threads(previous)

    if args.cpu_threads > 0 and "cpu_paths" in sections and "motion_mamba" in generators:
        try:
            result["cpu_paths"] = _cpu_paths(generators["motion_mamba"], args, torch, log)
        except Exception as error:
            result["errors"]["cpu_paths"] = f"{type(error).__name__}: {error}"

    if args.cpu_threads > 0 and "cpu_samplers" in sections and "motion_mamba" in generators:
        try:
            result["cpu_samplers"] = _cpu_samplers(generators["motion_mamba"], args, torch, log)
        except Exception as error:
            result["errors"]["cpu_samplers"] = f"{type(error).__name__}: {error}"

    mm, mld = result["models"].get("motion_mamba", {}), result["models"].get("mld", {})
    unfused = result["models"].get("motion_mamba_unfused", {})
    for label in ("eager", "graph", "graph_compiled"):
        key = f"aits_ms_{label}"
        if key in mm and key in mld:
            result[f"speedup_vs_mld_{label}"] = mld[key] / mm[key]
        if key in mm and key in unfused:
            result[f"speedup_vs_unfused_{label}"] = unfused[key] / mm[key]
    return result


# Motion Mamba's CPU inference code paths, oldest first: the training path (grouped conv1d, selective_scan's blocked
# backend), the time-major blocks over scan_time_major, and the same blocks over scan_inference (the default).
CPU_PATHS = ("reference", "blocked", "inference")


@contextlib.contextmanager
def _cpu_path(name):
    from motion_core.ssm import blocks

    saved = blocks._PathsBlock.fast_inference, blocks.GroupedSSM.inference_scan
    blocks._PathsBlock.fast_inference = name != "reference"
    blocks.GroupedSSM.inference_scan = "blocked" if name == "blocked" else "inference"
    try:
        yield
    finally:
        blocks._PathsBlock.fast_inference, blocks.GroupedSSM.inference_scan = saved


def _cpu_name():
    """The CPU's model name and core count, e.g. 'AMD EPYC (2 cores)'."""
    import os

    name = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as handle:
            name = next((line.split(":", 1)[1].strip() for line in handle if line.startswith("model name")), name)
    except OSError:
        pass
    return f"{name} ({os.cpu_count()} cores)"


def _load_average():
    import os

    return os.getloadavg()[0] if hasattr(os, "getloadavg") else None


def _cpu_paths(gen, args, torch, log):
    """Each CPU path of Motion Mamba, timed in turn within every repeat (the machine's load drifts; interleaving keeps
    the comparison fair): one guided denoiser call (batch 2, 9.8-s latent) and the whole generate() of a 9.8-s clip,
    for each loop-thread setting. Medians; numbers are the same on every path (the tests check it)."""
    gen.to("cpu")
    previous = torch.get_num_threads()
    torch.set_num_threads(args.cpu_threads)
    out = {"machine": _cpu_name(), "threads": args.cpu_threads, "repeats": args.cpu_repeats,
           "load_average_1min_before": _load_average(),
           "paths": {"reference": "training path (grouped conv1d, blocked scan backend)",
                     "blocked": "time-major blocks over scan_time_major (the previous CPU default)",
                     "inference": "time-major blocks over scan_inference (the default)"}}
    c = gen.config.denoiser
    tokens = gen.vae.latent_shape(FRAMES)[0]
    z = torch.randn(2, tokens, c.latent_dim)
    time_tok, text_tok = torch.randn(2, 1, c.width or c.latent_dim), torch.randn(2, 1, c.width or c.latent_dim)
    try:
        calls = {name: [] for name in CPU_PATHS}
        with torch.inference_mode():
            for name in CPU_PATHS:  # warm-up
                with _cpu_path(name):
                    gen.denoiser.forward_tokens(z, time_tok, text_tok)
            for _ in range(10 * args.cpu_repeats):
                for name in CPU_PATHS:
                    with _cpu_path(name):
                        calls[name].append(_median_ms(
                            lambda i: gen.denoiser.forward_tokens(z, time_tok, text_tok), 1, lambda: None))
        out["denoiser_call_ms"] = {name: statistics.median(times) for name, times in calls.items()}
        log("cpu denoiser call (ms): " + ", ".join(f"{k} {v:.1f}" for k, v in out["denoiser_call_ms"].items()))
        for loop_threads in [int(t) for t in args.cpu_loop_threads.split(",")]:
            gen.cpu_loop_threads = loop_threads or None
            label = f"generate_s_loop_threads_{loop_threads or args.cpu_threads}"
            runs = {name: [] for name in CPU_PATHS}
            for i in range(args.cpu_repeats):
                for name in CPU_PATHS:
                    with _cpu_path(name):
                        runs[name].append(_median_ms(lambda j: _generate_clip(gen, i, i, "cpu"), 1, lambda: None) / 1e3)
            out[label] = {name: statistics.median(times) for name, times in runs.items()}
            log(f"cpu generate, loop threads {loop_threads or args.cpu_threads} (s): "
                + ", ".join(f"{k} {v:.2f}" for k, v in out[label].items()))
        out["load_average_1min_after"] = _load_average()  # the machine may be shared: how busy it was
        out["speedup_vs_blocked"] = out["denoiser_call_ms"]["blocked"] / out["denoiser_call_ms"]["inference"]
        out["speedup_vs_reference"] = out["denoiser_call_ms"]["reference"] / out["denoiser_call_ms"]["inference"]
    finally:
        gen.cpu_loop_threads = 1
        torch.set_num_threads(previous)
    return out


def _cpu_samplers(gen, args, torch, log):
    """Motion Mamba's CPU generate() of a 9.8-s clip per sampler:steps pair (guidance 7.5, foot cleanup on), each pair
    timed in turn within every repeat (interleaved against load drift), for each loop-thread setting. Medians."""
    pairs = [(name, int(steps)) for name, steps in (p.split(":") for p in args.samplers.split(",") if p.strip())]
    gen.to("cpu")
    previous = torch.get_num_threads()
    torch.set_num_threads(args.cpu_threads)
    out = {"machine": _cpu_name(), "threads": args.cpu_threads, "repeats": args.cpu_repeats, "guidance": GUIDANCE,
           "load_average_1min_before": _load_average()}
    try:
        gen.generate(_prompt(-1), 2.0, seed=0, steps=2, device="cpu")  # warm-up
        for loop_threads in [int(t) for t in args.cpu_loop_threads.split(",")]:
            gen.cpu_loop_threads = loop_threads or None
            runs = {f"{name}_{steps}": [] for name, steps in pairs}
            for i in range(args.cpu_repeats):
                for name, steps in pairs:
                    runs[f"{name}_{steps}"].append(_median_ms(
                        lambda j: _generate_clip(gen, i, i, "cpu", steps=steps, sampler=name), 1, lambda: None) / 1e3)
            label = f"generate_s_loop_threads_{loop_threads or args.cpu_threads}"
            out[label] = {key: statistics.median(times) for key, times in runs.items()}
            log(f"cpu samplers, loop threads {loop_threads or args.cpu_threads} (s): "
                + ", ".join(f"{k} {v:.2f}" for k, v in out[label].items()))
        out["load_average_1min_after"] = _load_average()
    finally:
        gen.cpu_loop_threads = 1
        torch.set_num_threads(previous)
    return out


def _save_partial(args, result):
    """Write what is measured so far, so a run cut short by a time limit still leaves numbers behind."""
    if getattr(args, "out", None):
        with open(args.out, "w") as handle:
            handle.write(json.dumps({**result, "partial": True}, indent=2) + "\n")


def _breakdown(gen, torch, repeats):
    """Graph-mode time of each stage at batch 1: text encoding, the DDIM loop, decoding."""
    with torch.inference_mode():  # the graphs' static buffers and the encoder's cache are inference tensors
        return _breakdown_inference(gen, torch, repeats)


def _breakdown_inference(gen, torch, repeats):
    cond_emb = gen.text_encoder.encode([_prompt(0)])
    text_emb = torch.cat([gen.text_encoder.encode([""]), cond_emb])
    noise = torch.randn(1, *gen.vae.latent_shape(FRAMES))
    tokens = noise.shape[1]
    bucket = gen._decode_bucket(FRAMES, tokens)
    sync = torch.cuda.synchronize

    def encode(i):
        gen.text_encoder.encode([_prompt(1000 + i)])

    def loop(i):
        gen._graphs[("loop", 1, True, STEPS, STEPS, tokens)].run(noise, text_emb, GUIDANCE, None, None)

    latents = gen._graphs[("loop", 1, True, STEPS, STEPS, tokens)].latents

    def decode(i):
        gen._graphs[("decode", 1, bucket, tokens)].run(latents, FRAMES)

    out = {"text_encoding": _median_ms(encode, repeats, sync), "ddim_loop": _median_ms(loop, repeats, sync),
           "decode_to_joints": _median_ms(decode, repeats, sync)}
    out["per_denoiser_step"] = out["ddim_loop"] / STEPS
    return out


def _table(result):
    lines = [f"device: {result['device']}  (torch {result['torch']}, scan backend {result.get('scan_backend')})"]
    for kind, entry in result["models"].items():
        parts = [f"{kind:13s}", f"denoiser {entry['params']['denoiser'] / 1e6:.2f} M"]
        for label in ("eager", "graph", "graph_compiled"):
            if f"aits_ms_{label}" in entry:
                parts.append(f"AITS {label} {entry[f'aits_ms_{label}']:.2f} ms")
        for batch, rate in entry.get("clips_per_s", {}).items():
            parts.append(f"b{batch} {rate:.0f} clips/s")
        lines.append("  ".join(parts))
    for label in ("eager", "graph", "graph_compiled"):
        if f"speedup_vs_mld_{label}" in result:
            lines.append(f"Motion Mamba vs MLD ({label}): {result[f'speedup_vs_mld_{label}']:.2f}x")
    if "cpu" in result:
        lines.append("cpu: " + ", ".join(f"{k} {v:.2f}" for k, v in result["cpu"].items() if "_s" in k))
    for key, value in result.get("cpu_samplers", {}).items():
        if key.startswith("generate_s"):
            lines.append(f"cpu samplers, {key}: " + ", ".join(f"{name} {v:.3g}" for name, v in value.items()))
    for key, value in result.get("cpu_paths", {}).items():
        if key.startswith(("denoiser_call_ms", "generate_s")):
            lines.append(f"cpu paths, {key}: " + ", ".join(f"{name} {v:.3g}" for name, v in value.items()))
    for kind, error in result["errors"].items():
        lines.append(f"error ({kind}): {error}")
    return "\n".join(lines)


def run(args):
    log = (lambda message: print(message, file=sys.stderr, flush=True))
    result = measure(args, log=log)
    text = json.dumps(result, indent=None if args.json else 2)
    if args.out:
        with open(args.out, "w") as handle:
            handle.write(json.dumps(result, indent=2) + "\n")
    print(text if args.json else _table(result))
    return 0


if __name__ == "__main__":  # python -m motion_core.bench_generate (same flags as `motion-mamba bench generate`)
    import argparse

    parser = argparse.ArgumentParser(prog="bench_generate", description=HELP)
    add_arguments(parser)
    sys.exit(run(parser.parse_args()))
