"""Readers for the HumanML3D folder layout: the original HumanML3D and KIT-ML releases, and our own corpus.

Layout (HumanML3D; KIT-ML is the same with 21 joints, 251-d features, 12.5 fps):
  new_joint_vecs/NAME.npy (T-1, 263)     new_joints/NAME.npy (T-1, 22, 3)     texts/NAME.txt
  Mean.npy, Std.npy (263,)               train.txt val.txt test.txt train_val.txt all.txt (one NAME per line)
Mirrored clips are separate names with an `M` prefix (M000123 mirrors 000123). Text lines are
`caption#tok/POS tok/POS ...#start#end`; start/end in seconds, 0.0#0.0 (or NaN) meaning the whole clip, otherwise the
caption covers `motion[int(start * fps):int(end * fps)]`.

The HumanML3D motions cannot be shipped (AMASS licence); these readers exist for users who hold them.
"""

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from motion_core.data.captions import parse_text_line
from motion_core.errors import MotionError

SPLITS = ("train", "val", "test", "train_val", "all")
# feature size -> (dataset, joints, fps)
LAYOUTS = {263: ("humanml3d", 22, 20.0), 251: ("kit", 21, 12.5)}


@dataclass
class Caption:
    """One text line: text, POS tokens [(word, POS)], and its time span in seconds (0, 0 = whole clip)."""

    text: str
    tokens: list
    start_s: float = 0.0
    end_s: float = 0.0


@dataclass
class MotionItem:
    """One named motion of a split.

    features: (T-1, 263) float32 (KIT: 251); joints: (T-1, 22, 3) float32 (KIT: 21 joints), read from disk on first
    use and None when the folder has no new_joints; captions: list of (text, start_s, end_s); fps: 20 (KIT 12.5).
    """

    name: str
    features: np.ndarray
    caption_lines: list
    fps: float
    joints_path: Path = None
    _joints: np.ndarray = field(default=None, repr=False)

    @property
    def captions(self):
        return [(c.text, c.start_s, c.end_s) for c in self.caption_lines]

    @property
    def joints(self):
        if self._joints is None and self.joints_path is not None and self.joints_path.is_file():
            self._joints = np.load(self.joints_path, allow_pickle=False).astype(np.float32)
        return self._joints

    @property
    def mirrored(self):
        return self.name.startswith("M")

    def span(self, start_s, end_s):
        """Frame range [first, end) of a caption span; (0, 0) is the whole clip."""
        frames = len(self.features)
        if not (start_s or end_s):
            return 0, frames
        return int(start_s * self.fps), min(int(end_s * self.fps), frames)


def read_text_file(path):
    """All caption lines of a texts/NAME.txt file. Returns list[Caption]; blank lines are skipped."""
    captions = []
    for line in Path(path).read_text(encoding="utf-8", errors="replace").splitlines():
        if not line.strip():
            continue
        try:
            text, tokens, start, end = parse_text_line(line)
        except ValueError:
            continue
        if text:
            captions.append(Caption(text, tokens, start, end))
    return captions


def read_split_names(root, split):
    """Names listed in ROOT/SPLIT.txt, in file order."""
    root = Path(root)
    if not root.is_dir():
        raise MotionError(f"dataset folder {root} not found; pass the folder that holds new_joint_vecs/ and texts/")
    if split not in SPLITS:
        raise MotionError(f"unknown split '{split}'; choose one of {', '.join(SPLITS)}")
    path = root / f"{split}.txt"
    if not path.is_file():
        raise MotionError(f"{path} is missing; a HumanML3D-layout folder needs {split}.txt listing clip names")
    return [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def detect_layout(root):
    """("humanml3d" | "kit", joints, fps) from Mean.npy's size, or from the first feature file."""
    root = Path(root)
    mean = root / "Mean.npy"
    if mean.is_file():
        size = int(np.load(mean, allow_pickle=False).shape[-1])
    else:
        first = next(iter(sorted((root / "new_joint_vecs").glob("*.npy"))), None)
        if first is None:
            raise MotionError(f"{root}/new_joint_vecs has no .npy files; is this a HumanML3D-layout folder?")
        size = int(np.load(first, mmap_mode="r").shape[-1])
    if size not in LAYOUTS:
        raise MotionError(f"{root}: features of size {size} are neither HumanML3D (263) nor KIT-ML (251)")
    return LAYOUTS[size]


def load_split(root, split, min_frames=1):
    """Motions of one split with their captions.

    root: a HumanML3D, KIT-ML or motion-mamba corpus folder; split: "train", "val", "test", "train_val" or "all".
    Names without a feature file or without any caption are skipped (the official split lists name a few such
    clips), as are motions shorter than min_frames. Returns list[MotionItem] in split-file order.
    """
    root = Path(root)
    names = read_split_names(root, split)
    _, joint_count, fps = detect_layout(root)
    items = []
    for name in names:
        vec_path = root / "new_joint_vecs" / f"{name}.npy"
        text_path = root / "texts" / f"{name}.txt"
        if not vec_path.is_file() or not text_path.is_file():
            continue
        features = np.load(vec_path, allow_pickle=False).astype(np.float32)
        if features.ndim != 2 or len(features) < min_frames:
            continue
        caption_lines = read_text_file(text_path)
        if not caption_lines:
            continue
        items.append(MotionItem(name, features, caption_lines, fps, root / "new_joints" / f"{name}.npy"))
    return items


def load_mean_std(root):
    """(mean, std) feature statistics of a folder, each (D,) float32."""
    root = Path(root)
    try:
        mean = np.load(root / "Mean.npy", allow_pickle=False).astype(np.float32)
        std = np.load(root / "Std.npy", allow_pickle=False).astype(np.float32)
    except OSError:
        raise MotionError(f"{root} lacks Mean.npy / Std.npy; build the corpus again or copy them in") from None
    return mean, std
