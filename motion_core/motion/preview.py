"""Contact sheets: a PNG of stick figures so anyone can see a motion without Blender.

For each variation, two rows of evenly spaced frames: a side view (seen from the figure's right, -X: forward +Z to
the right of the page, up +Y) and a top view (seen from above: forward +Z up the page, so the figure's left, +X,
is on the left of the page). Left limbs are blue, right limbs red, spine and head black; the top view also shows the
root path. Every panel shares one scale and is centred on that frame's root.

matplotlib (Agg) is imported inside the function: the add-on imports this package without matplotlib.
"""

import numpy as np

from motion_core.motion.skeleton import KINEMATIC_CHAIN, LEFT_JOINTS, RIGHT_JOINTS

LEFT_COLOUR = "#1f5fd6"
RIGHT_COLOUR = "#d62728"
CENTRE_COLOUR = "#222222"


def _chain_colour(chain):
    tail = chain[-1]
    if tail in LEFT_JOINTS:
        return LEFT_COLOUR
    if tail in RIGHT_JOINTS:
        return RIGHT_COLOUR
    return CENTRE_COLOUR


def contact_sheet(joints, out_png, fps=20.0, title="", columns=8):
    """Draw a contact sheet PNG.

    Args:
        joints: (T, 22, 3) or (V, T, 22, 3) metres, Y-up, +Z forward.
        out_png: output path; fps: frame rate (for the time labels); title: figure title;
        columns: frames per row (evenly spaced over the clip, first and last included).
    Returns the output path.
    """
    # matplotlib is optional (the `preview` extra) and absent from Blender's Python; pyplot alone takes ~0.5 s.
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    joints = np.asarray(joints, dtype=np.float64)
    if joints.ndim == 3:
        joints = joints[None]
    if joints.ndim != 4 or joints.shape[-2:] != (22, 3):
        raise ValueError(f"joints must be (T, 22, 3) or (V, T, 22, 3), got {joints.shape}")
    variations, frames = joints.shape[:2]
    columns = max(1, min(columns, frames))
    picks = np.unique(np.linspace(0, frames - 1, columns).round().astype(int))
    columns = len(picks)

    # One half-extent for every panel: the body's largest reach from its root, plus a margin.
    offsets = joints - joints[:, :, :1]
    reach = max(np.abs(offsets[..., 2]).max(), 0.6) + 0.15  # side view: forward extent
    reach_top = max(np.abs(offsets[..., [0, 2]]).max(), 0.4) + 0.1  # top view: horizontal extent
    height = max(joints[..., 1].max(), 1e-3)
    fig, axes = plt.subplots(
        2 * variations, columns, figsize=(1.6 * columns, 3.6 * variations), squeeze=False
    )
    for v in range(variations):
        clip = joints[v]
        for c, f in enumerate(picks):
            pose = clip[f]
            root = pose[0]
            side, top = axes[2 * v, c], axes[2 * v + 1, c]
            for chain in KINEMATIC_CHAIN:
                colour = _chain_colour(chain)
                side.plot(pose[chain, 2], pose[chain, 1], color=colour, lw=2, solid_capstyle="round")
                top.plot(pose[chain, 0], pose[chain, 2], color=colour, lw=2, solid_capstyle="round")
            side.scatter(pose[15, 2], pose[15, 1], s=40, color=CENTRE_COLOUR, zorder=3)
            side.axhline(0.0, color="#999999", lw=0.8)
            side.set_xlim(root[2] - reach, root[2] + reach)
            side.set_ylim(-0.05, height + 0.15)
            top.plot(clip[:, 0, 0], clip[:, 0, 2], color="#bbbbbb", lw=0.8, zorder=0)
            top.scatter(pose[15, 0], pose[15, 2], s=40, color=CENTRE_COLOUR, zorder=3)
            # Seen from above with +Z up the page, +X points left.
            top.set_xlim(root[0] + reach_top, root[0] - reach_top)
            top.set_ylim(root[2] - reach_top, root[2] + reach_top)
            for ax in (side, top):
                ax.set_aspect("equal")
                ax.set_xticks([])
                ax.set_yticks([])
            side.set_title(f"{f / fps:.2f} s", fontsize=8)
            if c == 0:
                label = f"#{v} " if variations > 1 else ""
                side.set_ylabel(f"{label}side (+Z ->)", fontsize=8)
                top.set_ylabel(f"{label}top (+Z ^)", fontsize=8)
    seconds = (frames - 1) / fps
    fig.suptitle(
        f"{title + '  ' if title else ''}{frames} frames, {seconds:.2f} s @ {fps:g} fps   (left blue, right red)",
        fontsize=10,
    )
    fig.tight_layout()
    fig.savefig(out_png, dpi=90)
    plt.close(fig)
    return out_png
