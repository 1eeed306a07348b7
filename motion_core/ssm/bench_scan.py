"""`motion-mamba bench scan`: time every available selective-scan backend on the paper's and long shapes.

For each shape (batch, channels, length) and backend: the median time per forward call of back-to-back eager calls
(host dispatch included, as a model sees it), on CUDA also the median per call when replayed from a CUDA graph
(device time only, as a captured sampler sees it), the effective bandwidth of the bytes a fused kernel must move
(u, delta, B, C read once, y written once), that bandwidth as a percentage of a device-to-device copy measured in the
same run, and the max abs error against the float64 sequential reference on the same inputs. Prints one JSON object
with --json. Inputs follow the reference measurements: u, B, C, D ~ N(0, 1), delta ~ U[0, 0.1), A ~ -U[0, 1),
variable B/C with one group, D given, no gate, no delta bias, no softplus.
"""

import json
import math
import platform
import statistics
import sys
import time

HELP = "time the selective-scan backends (median, GB/s, share of copy bandwidth, error vs reference)"

PAPER_SHAPES = [(2, 512, 4), (2, 8, 256), (1, 1024, 196)]
LONG_SHAPES = [(8, 1536, 2048), (4, 2048, 16384)]
DTYPES = {"float32": "float32", "fp32": "float32", "bfloat16": "bfloat16", "bf16": "bfloat16",
          "float16": "float16", "fp16": "float16"}


def add_arguments(parser):
    parser.add_argument("--device", default=None, help="cuda or cpu (default: cuda when available)")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    parser.add_argument("--dtype", default="float32", choices=sorted(DTYPES), help="input dtype (state is fp32)")
    parser.add_argument("--state", type=int, default=16, help="SSM state size N")
    parser.add_argument("--shapes", default=None,
                        help="semicolon-separated batch,channels,length triples (default: the issue's five on "
                             "CUDA, the paper's three on CPU)")
    parser.add_argument("--backends", default=None, help="comma-separated subset of ref,chunked,blocked,triton,cuda")
    parser.add_argument("--repeats", type=int, default=None, help="timed samples per case (default 30 GPU, 3 CPU)")
    parser.add_argument("--sweep", action="store_true", help="also time the triton kernel's candidate tile configs")
    parser.add_argument("--backward", action="store_true", help="also time forward+backward (eager)")
    parser.add_argument("--out", default=None, help="also write the JSON to this file")
    parser.add_argument("--plot", default=None, metavar="PNG", help="also draw the times per shape and backend")
    parser.add_argument("--from-json", default=None, metavar="JSON",
                        help="don't run: draw --plot from a saved report (e.g. docs/results/scan_bench_h200.json)")


def _parse_shapes(text):
    shapes = []
    for item in text.split(";"):
        parts = [int(p) for p in item.replace("x", ",").split(",") if p.strip()]
        if len(parts) != 3:
            from motion_core.errors import MotionError

            raise MotionError(f"bad --shapes entry {item!r}; write batch,channels,length (e.g. 2,512,4;2,8,256)")
        shapes.append(tuple(parts))
    return shapes


class _Timer:
    """Median seconds per call of fn(): events on CUDA, perf_counter on CPU; inner calls sized to ~2 ms samples."""

    def __init__(self, torch, device, repeats):
        self.torch, self.device, self.repeats = torch, device, repeats

    def sync(self):
        if self.device.type == "cuda":
            self.torch.cuda.synchronize()

    def _sample(self, fn, inner):
        if self.device.type == "cuda":
            start, end = self.torch.cuda.Event(enable_timing=True), self.torch.cuda.Event(enable_timing=True)
            start.record()
            for _ in range(inner):
                fn()
            end.record()
            end.synchronize()
            return start.elapsed_time(end) * 1e-3 / inner
        t0 = time.perf_counter()
        for _ in range(inner):
            fn()
        return (time.perf_counter() - t0) / inner

    def median(self, fn, warmup=3):
        for _ in range(warmup):
            fn()
        self.sync()
        once = self._sample(fn, 1)
        inner = max(1, min(200, int(2e-3 / max(once, 1e-7))))
        return statistics.median(self._sample(fn, inner) for _ in range(self.repeats))

    def graph_median(self, fn):
        """Per-call device time of fn replayed from a CUDA graph (no host dispatch)."""
        torch = self.torch
        once = self.median(fn, warmup=2)
        inner = max(1, min(100, int(2e-3 / max(once, 1e-7))))
        stream = torch.cuda.Stream()
        stream.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(stream):
            for _ in range(2):
                fn()
        torch.cuda.current_stream().wait_stream(stream)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            for _ in range(inner):
                fn()
        return self.median(graph.replay, warmup=2) / inner


def _copy_bandwidth(torch, device, timer):
    """Bytes read + written per second by a large device-to-device copy."""
    n = (1 << 28) if device.type == "cuda" else (1 << 24)  # 1 GiB / 64 MiB of float32
    src = torch.empty(n, dtype=torch.float32, device=device).normal_()
    dst = torch.empty_like(src)
    seconds = timer.median(lambda: dst.copy_(src))
    del src, dst
    return 2 * n * 4 / seconds


def _make_inputs(torch, shape, state, dtype, device, seed):
    batch, channels, length = shape
    g = torch.Generator(device=device).manual_seed(seed)
    return dict(
        u=torch.randn(batch, channels, length, generator=g, device=device).to(dtype),
        delta=(torch.rand(batch, channels, length, generator=g, device=device) * 0.1).to(dtype),
        A=-torch.rand(channels, state, generator=g, device=device),
        B=torch.randn(batch, 1, state, length, generator=g, device=device).to(dtype),
        C=torch.randn(batch, 1, state, length, generator=g, device=device).to(dtype),
        D=torch.randn(channels, generator=g, device=device),
    )


def _fused_bytes(shape, state, element_size):
    """Bytes a fused forward must move: u, delta read and y written (channels each), B and C read (state each)."""
    batch, channels, length = shape
    return element_size * batch * length * (3 * channels + 2 * state)


def _chunked_fits(torch, shape, state, device):
    batch, channels, length = shape
    need = 10 * batch * channels * length * state * 4  # about ten (.., length, state) fp32 tensors live at once
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return need < 0.8 * free
    return need < 4 << 30


def _sweep_configs(shape, state, per_group):
    from motion_core.ssm.scan_triton import _FWD_TILE_BUDGET, _next_pow2

    length_p = _next_pow2(shape[2])
    configs = []
    for block_d in (1, 2, 4, 8, 16, 32):
        if per_group % block_d:
            continue
        for chunk in (4, 8, 16, 32, 64):
            if chunk <= max(4, length_p) and block_d * chunk * _next_pow2(state) <= _FWD_TILE_BUDGET:
                if block_d * chunk * _next_pow2(state) >= _FWD_TILE_BUDGET // 2 or chunk >= length_p:
                    configs.append((block_d, chunk, 1))
    return configs


def run(args):
    if args.from_json:
        if not args.plot:
            from motion_core.errors import MotionError

            raise MotionError("--from-json only redraws a saved report: add --plot OUT.png")
        with open(args.from_json) as f:
            plot_report(json.load(f), args.plot)
        print(args.plot)
        return 0
    import torch

    from motion_core.device import resolve_device
    from motion_core.errors import MotionError
    from motion_core.ssm import backends as scan_backends
    from motion_core.ssm.scan_ref import selective_scan_ref

    device = resolve_device(args.device)
    dtype = getattr(torch, DTYPES[args.dtype])
    on_gpu = device.type == "cuda"
    shapes = _parse_shapes(args.shapes) if args.shapes else (PAPER_SHAPES + LONG_SHAPES if on_gpu else PAPER_SHAPES)
    repeats = args.repeats or (30 if on_gpu else 3)
    timer = _Timer(torch, device, repeats)
    available = {name: reason for name, reason in scan_backends.scan_backend_info(device.type).items()}
    wanted = args.backends.split(",") if args.backends else list(scan_backends.BACKENDS)
    unknown = set(wanted) - set(scan_backends.BACKENDS)
    if unknown:
        raise MotionError(f"unknown backend(s) {sorted(unknown)} in --backends; choose from "
                          f"{', '.join(scan_backends.BACKENDS)}")

    copy_bw = _copy_bandwidth(torch, device, timer)
    report = {
        "benchmark": "scan",
        "device": device.type,
        "gpu": torch.cuda.get_device_name(device) if on_gpu else None,
        "cpu": platform.processor() or platform.machine(),
        "torch": torch.__version__,
        "triton": _version("triton"),
        "dtype": str(dtype).replace("torch.", ""),
        "state": args.state,
        "copy_bandwidth_GBps": round(copy_bw / 1e9, 1),
        "inputs": "u,B,C,D~N(0,1); delta~U[0,0.1); A~-U[0,1); B/C variable, 1 group; D; no z/bias/softplus",
        "bytes_counted": "element_size * batch * length * (3*channels + 2*state): u, delta, y, B, C once each",
        "timing": "median over repeats of back-to-back eager calls (median_us) and of CUDA-graph replays "
                  "(graph_us); CUDA events",
        "backends_unavailable": {k: v for k, v in available.items() if v},
        "results": [],
    }
    if args.sweep:
        report["triton_sweep"] = {}

    for index, shape in enumerate(shapes):
        x = _make_inputs(torch, shape, args.state, dtype, device, seed=index)
        ref = selective_scan_ref(**{k: v.double() for k, v in x.items()})
        nbytes = _fused_bytes(shape, args.state, x["u"].element_size())
        for name in wanted:
            row = {"shape": list(shape), "backend": name}
            if available.get(name):
                row["skipped"] = available[name]
            elif name in ("chunked", "blocked") and not _chunked_fits(torch, shape, args.state, device):
                row["skipped"] = "needs too much memory at this shape ((batch, channels, length, state) tensors)"
            if "skipped" in row:
                report["results"].append(row)
                continue

            def call(name=name):
                return scan_backends.selective_scan(**x, backend=name)

            try:
                with torch.no_grad():
                    out = call()
                    row["max_abs_err"] = float((out.double() - ref).abs().max())
                    slow = name == "ref" or (name == "chunked" and not on_gpu)
                    seconds = _Timer(torch, device, 1 if slow else repeats).median(call, warmup=1 if slow else 3)
                    row["median_us"] = round(seconds * 1e6, 2)
                    if on_gpu and name in ("triton", "cuda", "chunked"):
                        row["graph_us"] = round(timer.graph_median(call) * 1e6, 2)
                if args.backward and name in ("triton", "cuda"):
                    row["fwd_bwd_us"] = round(_fwd_bwd_seconds(torch, x, name, timer) * 1e6, 2)
            except torch.cuda.OutOfMemoryError:
                row = {"shape": list(shape), "backend": name, "skipped": "out of GPU memory"}
                torch.cuda.empty_cache()
            if "median_us" in row:
                best = min(row["median_us"], row.get("graph_us", math.inf)) * 1e-6
                row["GBps"] = round(nbytes / best / 1e9, 1)
                row["pct_of_copy"] = round(100 * nbytes / best / copy_bw, 1)
            report["results"].append(row)
            if name == "triton" and "median_us" in row:
                from motion_core.ssm.scan_triton import forward_config

                row["config"] = list(forward_config(shape[0], shape[1], shape[2], args.state, shape[1]))
                if args.sweep:
                    report["triton_sweep"][str(list(shape))] = _sweep(torch, x, shape, args.state, timer)
        del x, ref
        if on_gpu:
            torch.cuda.empty_cache()

    report["speedup_triton_over_cuda"] = _speedups(report["results"])
    text = json.dumps(report, indent=1)
    if args.plot:
        plot_report(report, args.plot)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text + "\n")
    if args.json:
        print(text)
    else:
        _print_table(report)
    return 0


def _best_us(entry):
    """Fastest of a row's eager and CUDA-graph medians (µs), or None when it did not run."""
    times = [entry[k] for k in ("median_us", "graph_us") if entry.get(k) is not None]
    return min(times) if times else None


def plot_report(report, png_path):
    """Bar chart (log scale) of the best time per shape and backend; triton also as its best swept tile config."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shapes = list(dict.fromkeys(tuple(r["shape"]) for r in report["results"]))
    series = {}  # backend label -> {shape: µs}
    for row in report["results"]:
        if _best_us(row) is not None:
            series.setdefault(row["backend"], {})[tuple(row["shape"])] = _best_us(row)
    for key, configs in (report.get("triton_sweep") or {}).items():
        times = [t for t in (_best_us(c) for c in configs.values()) if t is not None]
        if times:
            series.setdefault("triton (best tile)", {})[tuple(json.loads(key))] = min(times)
    fig, ax = plt.subplots(figsize=(9, 4.2))
    width = 0.8 / max(len(series), 1)
    for i, (label, times) in enumerate(series.items()):
        xs = [j + (i - (len(series) - 1) / 2) * width for j, shape in enumerate(shapes) if shape in times]
        ax.bar(xs, [times[shape] for shape in shapes if shape in times], width, label=label)
    ax.set_yscale("log")
    ax.set_xticks(range(len(shapes)), ["\u00d7".join(map(str, shape)) for shape in shapes])
    ax.set_xlabel("shape (batch \u00d7 channels \u00d7 length)")
    ax.set_ylabel("median \u00b5s per call (best of eager / CUDA graph)")
    where = report.get("gpu") or report.get("cpu") or report.get("device")
    ax.set_title(f"selective scan, {report.get('dtype', '')}, state {report.get('state', '')}: {where}")
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(png_path, dpi=110)
    plt.close(fig)


def _sweep(torch, x, shape, state, timer):
    from motion_core.ssm.scan_triton import selective_scan_triton

    results = {}
    with torch.no_grad():
        for config in _sweep_configs(shape, state, shape[1]):
            def call(config=config):
                return selective_scan_triton(**x, config=config)

            results[str(list(config))] = {"median_us": round(timer.median(call) * 1e6, 2),
                                          "graph_us": round(timer.graph_median(call) * 1e6, 2)}
    return results


def _fwd_bwd_seconds(torch, x, name, timer):
    from motion_core.ssm import selective_scan

    leaves = {k: v.detach().clone().requires_grad_(True) for k, v in x.items()}
    grad = torch.randn_like(leaves["u"])

    def step():
        out = selective_scan(**leaves, backend=name)
        torch.autograd.backward(out, grad)

    return timer.median(step)


def _speedups(results):
    by_key = {(tuple(r["shape"]), r["backend"]): r for r in results if "median_us" in r}
    speedups = {}
    for (shape, backend), row in by_key.items():
        cuda = by_key.get((shape, "cuda"))
        if backend == "triton" and cuda:
            entry = {"eager": round(cuda["median_us"] / row["median_us"], 2)}
            if "graph_us" in row and "graph_us" in cuda:
                entry["graph"] = round(cuda["graph_us"] / row["graph_us"], 2)
            speedups[str(list(shape))] = entry
    return speedups


def _print_table(report):
    print(f"selective scan, {report['dtype']}, state {report['state']}, {report['gpu'] or report['cpu']}; "
          f"copy bandwidth {report['copy_bandwidth_GBps']} GB/s")
    print(f"{'shape':>18} {'backend':>8} {'median us':>11} {'graph us':>10} {'GB/s':>8} {'% copy':>7} {'max err':>9}")
    for r in report["results"]:
        shape = "x".join(map(str, r["shape"]))
        if "skipped" in r:
            print(f"{shape:>18} {r['backend']:>8}  skipped: {r['skipped']}")
            continue
        print(f"{shape:>18} {r['backend']:>8} {r['median_us']:>11.1f} {r.get('graph_us', float('nan')):>10.1f} "
              f"{r['GBps']:>8.1f} {r['pct_of_copy']:>7.1f} {r['max_abs_err']:>9.2e}")
    for shape, s in report["speedup_triton_over_cuda"].items():
        print(f"triton over cuda at {shape}: {s}")
    sys.stdout.flush()


def _version(module):
    try:
        return __import__(module).__version__
    except ImportError:
        return None


if __name__ == "__main__":  # python -m motion_core.ssm.bench_scan ... (same as `motion-mamba bench scan ...`)
    import argparse

    _parser = argparse.ArgumentParser(description=HELP)
    add_arguments(_parser)
    sys.exit(run(_parser.parse_args()))
