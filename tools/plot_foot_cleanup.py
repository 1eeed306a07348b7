"""A picture of what the foot cleanup does to one generated walk: ball-of-foot height and horizontal speed per frame,
as decoded and after the cleanup, with the contact spans the model's own channels give and the frame steps that
`motion_core.metrics.foot_skate_ratio` calls a skate (below 5 cm at both frames and faster than 0.5 m/s).

    .venv/bin/python tools/plot_foot_cleanup.py [--weights DIR] [--prompt TEXT] [--seed N] [--out docs/foot_cleanup_walk.png]
"""

import argparse

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from motion_core.generator import MotionGenerator  # noqa: E402
from motion_core.metrics import CONTACT_HEIGHT, SKATE_SPEED, foot_skate_ratio  # noqa: E402
from motion_core.motion.foot_cleanup import clean_foot_contacts, contact_mask  # noqa: E402

BALLS = ((10, 1, "left"), (11, 3, "right"))  # joint, contact channel, side


def skating(ball, fps):
    """(T-1,) bool: frame steps where the ball slides on the floor; ball: (T, 3)."""
    low = (ball[:-1, 1] < CONTACT_HEIGHT) & (ball[1:, 1] < CONTACT_HEIGHT)
    return low & (np.linalg.norm(np.diff(ball[:, [0, 2]], axis=0), axis=-1) * fps > SKATE_SPEED)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", default=None, help="generator folder (default: the shipped model)")
    parser.add_argument("--prompt", default="a person walks forward")
    parser.add_argument("--seconds", type=float, default=6.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="docs/foot_cleanup_walk.png")
    args = parser.parse_args()

    motion = MotionGenerator.from_pretrained(args.weights).generate(args.prompt, args.seconds, seed=args.seed,
                                                                    device="cpu", foot_cleanup=False)
    raw, contacts, fps = motion.joints[0], motion.features[0][:, -4:], motion.fps
    cleaned = clean_foot_contacts(raw, contacts)
    planted = contact_mask(contacts)
    t = np.arange(len(raw)) / fps

    fig, axes = plt.subplots(2, 2, figsize=(13, 6), sharex=True)
    for column, (joint, channel, side) in enumerate(BALLS):
        height, speed = axes[0, column], axes[1, column]
        for ax in (height, speed):
            on = planted[:len(t), channel]
            ax.fill_between(t, 0, 1, where=on, transform=ax.get_xaxis_transform(), color="0.9", step="mid",
                            label="contact (model's channel)")
        for joints, name, colour in ((raw, "decoded", "tab:red"), (cleaned, "cleaned", "tab:blue")):
            ball = np.asarray(joints[:, joint], np.float64)
            height.plot(t, 100 * ball[:, 1], color=colour, label=name)
            step_speed = np.linalg.norm(np.diff(ball[:, [0, 2]], axis=0), axis=-1) * fps
            speed.plot(t[1:], step_speed, color=colour, label=name)
            slid = skating(ball, fps)
            speed.plot(t[1:][slid], step_speed[slid], "x", color=colour, markersize=7,
                       label=f"{name}: skates ({int(slid.sum())} steps)")
        height.axhline(100 * CONTACT_HEIGHT, color="0.4", lw=0.8, ls="--")
        speed.axhline(SKATE_SPEED, color="0.4", lw=0.8, ls="--")
        height.set_title(f"{side} ball of the foot")
        height.set_ylabel("height, cm")
        speed.set_ylabel("horizontal speed, m/s")
        speed.set_xlabel("seconds")
        speed.legend(fontsize=8, loc="upper right")
    axes[0, 0].legend(fontsize=8, loc="upper right")
    fig.suptitle(f'"{args.prompt}" (seed {args.seed}): foot skate {foot_skate_ratio(raw):.3f} decoded, '
                 f"{foot_skate_ratio(cleaned):.3f} after the cleanup (dashed: the metric's 5 cm and 0.5 m/s)")
    fig.tight_layout()
    fig.savefig(args.out, dpi=90)
    print(args.out)


if __name__ == "__main__":
    main()
