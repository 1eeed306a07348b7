"""Denoiser loss against samples seen on the widened captions: Motion Mamba's warm-started runs one after another,
and the MLD baseline's catch-up runs (tools/gpu/equal_budget.sh) on the same axis, so equal budgets line up.

    python tools/plot_denoiser_budget.py [--out docs/training/loss_denoiser_equal_budget.png]

Reads docs/training/logs/denoiser_h100_part*.jsonl and baseline_equal_h100_part*.jsonl; each run's batch size is
its samples_per_s / steps_per_s.
"""

import argparse
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

LOGS = Path(__file__).resolve().parents[1] / "docs" / "training" / "logs"


def chained(pattern):
    """(samples seen in millions, loss, where each run starts) over the runs matching pattern, in part order."""
    xs, ys, starts, seen = [], [], [], 0.0
    for path in sorted(LOGS.glob(pattern)):
        rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        batch = round(rows[-1]["samples_per_s"] / rows[-1]["steps_per_s"])
        starts.append(seen)
        xs += [(seen + row["step"] * batch) / 1e6 for row in rows]
        ys += [row["mse"] for row in rows]
        seen += rows[-1]["step"] * batch
    return xs, ys, [s / 1e6 for s in starts]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="docs/training/loss_denoiser_equal_budget.png")
    args = parser.parse_args()
    figure, axis = plt.subplots(figsize=(8, 4.2), dpi=100)
    for pattern, label, colour in (("denoiser_h100_part*.jsonl", "Motion Mamba", "tab:blue"),
                                   ("baseline_equal_h100_part*.jsonl", "MLD baseline", "tab:orange")):
        xs, ys, starts = chained(pattern)
        axis.plot(xs, ys, label=label, color=colour, linewidth=1.3)
        for start in starts[1:]:
            axis.axvline(start, color=colour, alpha=0.25, linewidth=0.8)
    _, _, mm_starts = chained("denoiser_h100_part*.jsonl")
    axis.axvspan(0, mm_starts[2], color="grey", alpha=0.08, label="equal samples (shipped at 08:13 UTC)")
    axis.set_yscale("log")
    axis.set_xlabel("samples seen on the widened captions (millions); faint lines: a warm-started run begins")
    axis.set_ylabel("ε-MSE (training)")
    axis.set_title("Denoisers on the shipped VAE, H100")
    axis.grid(alpha=0.3)
    axis.legend()
    figure.tight_layout()
    figure.savefig(args.out)
    print(args.out)


if __name__ == "__main__":
    main()
