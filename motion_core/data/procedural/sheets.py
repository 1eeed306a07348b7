"""Render one contact sheet per action kind (docs/library/) plus a README index.

    python -m motion_core.data.procedural.sheets docs/library [--seed 0] [--kinds walk,run]

Needs matplotlib (the preview tool imports it lazily).
"""

import argparse
from pathlib import Path

import numpy as np

from motion_core.motion.preview import contact_sheet

from .actions import ACTION_KINDS
from .library import make_clip


def render(out_dir, seed=0, kinds=None, columns=10):
    """Write <kind>.png for each kind into out_dir; returns [(kind, png name, caption, seconds)]."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for i, kind in enumerate(kinds or sorted(ACTION_KINDS)):
        clip = make_clip(kind, np.random.default_rng(seed + i))
        png = out / f"{kind}.png"
        contact_sheet(clip.joints, png, title=f"{kind}: {clip.captions[0]}", columns=columns)
        rows.append((kind, png.name, clip.captions[0], len(clip.joints) / 20.0))
    return rows


def write_index(out_dir, rows):
    lines = ["# Procedural motion library: contact sheets", "",
             "One clip per action kind from `motion_core.data.procedural` (seeded; regenerate with",
             "`python -m motion_core.data.procedural.sheets docs/library`). Each sheet shows a side view (figure's",
             "right, +Z to the right) and a top view (+Z up the page) of evenly spaced frames; left limbs blue, right red.",
             "", "| kind | category | parameters | caption (one of many) | seconds |", "|---|---|---|---|---|"]
    for kind, png, caption, secs in rows:
        params = ", ".join(sorted(ACTION_KINDS[kind].sample(np.random.default_rng(0))))
        lines.append(f"| [{kind}]({png}) | {ACTION_KINDS[kind].category} | {params} | {caption} | {secs:.1f} |")
    Path(out_dir, "README.md").write_text("\n".join(lines) + "\n")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--kinds", default="")
    args = parser.parse_args(argv)
    kinds = [k for k in args.kinds.split(",") if k] or None
    rows = render(args.out_dir, args.seed, kinds)
    if kinds is None:
        write_index(args.out_dir, rows)
    for row in rows:
        print(*row, sep="\t")


if __name__ == "__main__":
    main()
