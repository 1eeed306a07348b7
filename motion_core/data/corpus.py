"""The training corpus builder: real CMU clips (augmented) + the procedural motion library, in HumanML3D layout.

Output folder (what `motion_core.data.humanml3d.load_split` and training read):
  new_joints/NAME.npy (T-1, 22, 3) float32   new_joint_vecs/NAME.npy (T-1, 263) float32
  texts/NAME.txt  lines `caption#tok/POS ...#start#end`       Mean.npy, Std.npy (263,) fitted on the train split
  train.txt val.txt test.txt train_val.txt all.txt             index.csv (name, source, kind, split, augmentation)
  stats.json (hours, clips, kinds, captions per kind)
Names are 6-digit numbers; a mirrored clip is the same number with an `M` prefix, as in HumanML3D.

Reproducible: every source (a CMU trial, a procedural seed) draws from its own generator seeded by (seed, source),
results are written in source order whatever the number of workers, and the split of a source is a hash of
(seed, source id). A source and all its augmentations and mirrors share one split, so test motions are never seen in
training. 20 fps throughout; joints in metres, Y-up, +Z forward, HumanML3D 22-joint order.
"""

import csv
import hashlib
import json
import multiprocessing
import shutil
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from motion_core.data import augment, captions as captions_lib, cmu_corpus, procedural
from motion_core.errors import MotionError
from motion_core.motion.features import Normalizer, process_for_dataset

FPS = 20.0
SPLIT_FRACTIONS = (("train", 0.80), ("val", 0.05), ("test", 0.15))  # HumanML3D's proportions
CMU_AUGMENTED_COPIES = 3  # besides the original cut of each trial
MAX_CAPTIONS_PER_CLIP = 6
PROCEDURAL_BATCH = 16  # procedural sources submitted per round and worker while filling the requested hours


@dataclass
class CorpusClip:
    """One clip before feature extraction. joints: (T, 22, 3) at 20 fps; captions: list of (text, start_s, end_s)."""

    joints: np.ndarray
    captions: list
    kind: str
    augmentation: str = "original"


@dataclass
class WrittenClip:
    """A processed clip ready to write: features (T-1, 263), joints (T-1, 22, 3), caption lines."""

    joints: np.ndarray
    features: np.ndarray
    lines: list
    kind: str
    augmentation: str


@dataclass
class SourceResult:
    """All clips of one source, as (clip, mirrored clip) pairs."""

    source_id: str
    origin: str  # "cmu" or "procedural"
    pairs: list = field(default_factory=list)
    cropped: int = 0


def split_of(source_id, seed):
    """train / val / test for a source, from a hash of (seed, source id): stable whatever else is in the corpus."""
    digest = hashlib.sha256(f"{seed}:{source_id}".encode()).digest()
    position = int.from_bytes(digest[:8], "little") / 2.0**64
    cumulative = 0.0
    for name, fraction in SPLIT_FRACTIONS:
        cumulative += fraction
        if position < cumulative:
            return name
    return SPLIT_FRACTIONS[-1][0]


# --------------------------------------------------------------------------------------------------------------
# Sources -> clips (these run in worker processes)
# --------------------------------------------------------------------------------------------------------------


def cmu_kind(description):
    """A coarse action kind from a CMU description for the statistics: "dance - ..." -> "cmu/dance"."""
    text = description.lower()
    if " - " in text:
        return "cmu/" + text.split(" - ", 1)[0].strip()
    words = captions_lib.tokenize(text)
    verb = next((w for w in words if w in cmu_corpus.CMU_VERBS), words[0] if words else "unlabelled")
    return "cmu/" + verb


def cmu_trial_clips(trial, rng, copies=CMU_AUGMENTED_COPIES):
    """Clips of one CMU trial: the trial cut into 2..9.8 s pieces, plus `copies` re-cut and augmented versions.

    Each augmented version starts up to 3 s later (so cut points move: trimming), plays 0.8..1.25x as fast, and half
    of them bend the path by 10..40 degrees per metre. Captions: CMU's description rewritten, enriched with the
    speed / direction / turning / jumps measured on the clip itself. Returns list[CorpusClip].
    """
    base = cmu_corpus.description_captions(trial.description)
    kind = cmu_kind(trial.description)
    views = [(0, 1.0, 0.0)]
    for _ in range(copies):
        offset = int(rng.integers(1, 61))
        speed = float(rng.uniform(0.8, 1.25))
        bend = float(rng.choice([-1.0, 1.0]) * rng.uniform(10.0, 40.0)) if rng.random() < 0.5 else 0.0
        views.append((offset, speed, bend))
    clips = []
    for offset, speed, bend in views:
        joints = trial.joints[offset:]
        if len(joints) < cmu_corpus.MIN_CLIP_FRAMES:
            continue
        if speed != 1.0:
            joints = augment.change_speed(joints, speed)
        if bend != 0.0:
            joints = augment.bend_path(joints, bend)
        label = "original" if (offset, speed, bend) == (0, 1.0, 0.0) else (
            f"trim={offset / FPS:.2f}s,speed={speed:.2f}" + (f",bend={bend:.0f}deg/m" if bend else ""))
        # Playing faster scales every speed, so the glitch threshold scales with it.
        pieces = cmu_corpus.clean_pieces(joints, max_speed=cmu_corpus.GLITCH_SPEED * max(speed, 1.0))
        cuts = [cut for first, last in pieces
                for cut in cmu_corpus.segment_frames(last, rng, start=first)]
        for start, end in cuts:
            piece = joints[start:end]
            traits = captions_lib.describe_motion(piece, FPS)
            texts = captions_lib.enrich_captions(base, traits, rng, count=3)
            clips.append(CorpusClip(piece, [(t, 0.0, 0.0) for t in texts], kind, label))
    return clips


def mirror_kind(kind):
    """The kind a mirrored clip shows: "wave_left" -> "wave_right"."""
    return "_".join(captions_lib.SIDE_SWAPS.get(part, part) for part in kind.split("_"))


def procedural_clip(kind, rng):
    """One clip from the procedural library (H6a), or (None, False) when it is shorter than 2 s.

    kind: an action kind, or None for the library's random mix (single actions, chains, gestures layered over
    locomotion); chains and layers are counted as kinds "chain" and "layered". Longer clips are cut to their first
    9.8 s (cropped=True). Returns (CorpusClip, cropped).
    """
    if kind is None:
        joints, texts, meta = procedural.sample_random_clip(rng)
        kind = meta["kinds"][0] if meta["mode"] == "single" else meta["mode"]
    else:
        joints, texts = procedural.generate_clip(kind, rng)
    joints = np.asarray(joints, dtype=np.float32)
    cropped = len(joints) > cmu_corpus.MAX_CLIP_FRAMES
    joints = joints[: cmu_corpus.MAX_CLIP_FRAMES]
    if len(joints) < cmu_corpus.MIN_CLIP_FRAMES:
        return None, cropped
    texts = [t for t in dict.fromkeys(str(t).strip() for t in texts) if t]
    if len(texts) > MAX_CAPTIONS_PER_CLIP:
        keep = sorted(rng.choice(len(texts), MAX_CAPTIONS_PER_CLIP, replace=False))
        texts = [texts[i] for i in keep]
    return CorpusClip(joints, [(t, 0.0, 0.0) for t in texts], kind), cropped


def process_clip(clip, mirrored=False):
    """Features and text lines for a clip (or its mirror). Returns WrittenClip."""
    joints = augment.mirror(clip.joints) if mirrored else clip.joints
    uniform_joints, features = process_for_dataset(joints)
    lines = []
    for text, start, end in clip.captions:
        text = captions_lib.swap_left_right(text) if mirrored else text
        lines.append(captions_lib.format_text_line(text, start, end))
    kind = mirror_kind(clip.kind) if mirrored else clip.kind
    return WrittenClip(np.asarray(uniform_joints, np.float32), np.asarray(features, np.float32), lines, kind,
                       clip.augmentation + (",mirror" if mirrored else ""))


def run_source(task):
    """Worker entry: one source -> SourceResult.

    task: ("cmu", (CmuTrial, augmented copies), seed) or ("procedural", (kind or None for the mix, index), seed).
    """
    origin, payload, seed = task
    result = SourceResult(source_id="", origin=origin)
    if origin == "cmu":
        trial, copies = payload
        result.source_id = f"cmu/{trial.trial_id}"
        rng = np.random.default_rng([seed, 0, zlib.crc32(trial.trial_id.encode())])
        clips = cmu_trial_clips(trial, rng, copies)
    else:
        kind, index = payload
        result.source_id = f"procedural/{kind}/{index}" if kind else f"procedural/{index}"
        rng = np.random.default_rng([seed, 1, zlib.crc32((kind or "mix").encode()), index])
        clip, cropped = procedural_clip(kind, rng)
        result.cropped = int(cropped)
        clips = [clip] if clip is not None else []
    for clip in clips:
        if not clip.captions:
            continue
        result.pairs.append((process_clip(clip), process_clip(clip, mirrored=True)))
    return result


# --------------------------------------------------------------------------------------------------------------
# The builder
# --------------------------------------------------------------------------------------------------------------


class CorpusWriter:
    """Writes processed clips in order and keeps the statistics."""

    def __init__(self, out_dir, seed):
        self.out = Path(out_dir)
        self.seed = seed
        for sub in ("new_joints", "new_joint_vecs", "texts"):
            (self.out / sub).mkdir(parents=True, exist_ok=True)
        self.count = 0
        self.splits = {name: [] for name, _ in SPLIT_FRACTIONS}
        self.index_rows = []
        self.train_features = []
        self.kinds = {}
        self.origins = {}
        self.split_stats = {name: {"clips": 0, "frames": 0, "sources": 0} for name, _ in SPLIT_FRACTIONS}
        self.cropped = 0

    def add(self, result):
        """Write one source's clips; returns the frames written."""
        split = split_of(result.source_id, self.seed)
        self.split_stats[split]["sources"] += 1
        self.cropped += result.cropped
        frames_written = 0
        for clip, mirrored in result.pairs:
            number = f"{self.count:06d}"
            self.count += 1
            for name, item in ((number, clip), ("M" + number, mirrored)):
                np.save(self.out / "new_joints" / f"{name}.npy", item.joints)
                np.save(self.out / "new_joint_vecs" / f"{name}.npy", item.features)
                (self.out / "texts" / f"{name}.txt").write_text("\n".join(item.lines) + "\n", encoding="utf-8")
                self.splits[split].append(name)
                self.index_rows.append((name, result.source_id, item.kind, split, item.augmentation, len(item.features)))
                if split == "train":
                    self.train_features.append(item.features)
                frames = len(item.features)
                frames_written += frames
                self.split_stats[split]["clips"] += 1
                self.split_stats[split]["frames"] += frames
                kind = self.kinds.setdefault(item.kind, {"clips": 0, "frames": 0, "captions": 0, "unique": set()})
                kind["clips"] += 1
                kind["frames"] += frames
                kind["captions"] += len(item.lines)
                kind["unique"].update(line.split("#", 1)[0] for line in item.lines)
                origin = self.origins.setdefault(result.origin, {"clips": 0, "frames": 0, "sources": set()})
                origin["clips"] += 1
                origin["frames"] += frames
                origin["sources"].add(result.source_id)
        return frames_written

    def finish(self, extra):
        """Split lists, index, Mean/Std, stats.json. Returns the stats dict."""
        if not self.train_features:
            raise MotionError("the corpus has no training clip; build with more --hours or a CMU source")
        for name, names in self.splits.items():
            (self.out / f"{name}.txt").write_text("".join(n + "\n" for n in names), encoding="utf-8")
        train_val = self.splits["train"] + self.splits["val"]
        (self.out / "train_val.txt").write_text("".join(n + "\n" for n in train_val), encoding="utf-8")
        all_names = [row[0] for row in self.index_rows]
        (self.out / "all.txt").write_text("".join(n + "\n" for n in all_names), encoding="utf-8")
        with open(self.out / "index.csv", "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(["new_name", "source", "kind", "split", "augmentation", "frames"])
            writer.writerows(self.index_rows)
        Normalizer.fit(self.train_features).save(self.out)

        hours = lambda frames: round(frames / FPS / 3600.0, 4)  # noqa: E731
        stats = {
            "seed": self.seed,
            "fps": FPS,
            "hours": hours(sum(k["frames"] for k in self.kinds.values())),
            "clips": len(self.index_rows),
            "captions": sum(k["captions"] for k in self.kinds.values()),
            "by_origin": {
                name: {"clips": o["clips"], "hours": hours(o["frames"]), "sources": len(o["sources"])}
                for name, o in sorted(self.origins.items())
            },
            "by_split": {
                name: {"clips": s["clips"], "hours": hours(s["frames"]), "sources": s["sources"]}
                for name, s in self.split_stats.items()
            },
            "action_kinds": len(self.kinds),
            "kinds": {
                name: {"clips": k["clips"], "hours": hours(k["frames"]), "captions": k["captions"],
                       "unique_captions": len(k["unique"])}
                for name, k in sorted(self.kinds.items())
            },
            "procedural_cropped_to_9_8s": self.cropped,
        }
        stats.update(extra)
        (self.out / "stats.json").write_text(json.dumps(stats, indent=2) + "\n", encoding="utf-8")
        return stats


def _pool(workers):
    if workers <= 1:
        return None
    methods = multiprocessing.get_all_start_methods()
    # fork is cheap and safe here: the data modules import numpy only, never torch or threads.
    return multiprocessing.get_context("fork" if "fork" in methods else "spawn").Pool(workers)


def prepare_output(out_dir, overwrite):
    """Make sure we never mix two builds: refuse a non-empty folder unless overwrite, then clear our own outputs."""
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise MotionError(f"{out} exists and is not a folder; pick another --out")
    if out.is_dir() and any(out.iterdir()):
        if not overwrite:
            raise MotionError(f"{out} is not empty; pass --overwrite to rebuild it or pick another --out")
        for sub in ("new_joints", "new_joint_vecs", "texts"):
            shutil.rmtree(out / sub, ignore_errors=True)
        for name in ("train.txt", "val.txt", "test.txt", "train_val.txt", "all.txt", "index.csv", "stats.json",
                     "Mean.npy", "Std.npy"):
            (out / name).unlink(missing_ok=True)
    out.mkdir(parents=True, exist_ok=True)
    return out


def build_corpus(out_dir, hours=4.0, seed=0, cmu=None, workers=1, kinds=None, overwrite=False, progress=None,
                 cmu_copies=CMU_AUGMENTED_COPIES):
    """Build the corpus; returns the statistics dict (also written to out_dir/stats.json).

    hours: procedural motion to generate, in hours of unique motion (mirrors double it on disk); 0 for CMU only.
    cmu: a CMU folder or a pack .npz (None: no real clips); cmu_copies: augmented re-cuts per trial. kinds: procedural kinds to use (None: all).
    progress(stage, done, total): called as work completes; stage is "cmu import", "cmu clips" or "procedural".
    """
    started = time.perf_counter()
    if hours < 0:
        raise MotionError(f"--hours must be 0 or more, got {hours}")
    if cmu is None and hours == 0:
        raise MotionError("nothing to build: give --hours above 0 or a --cmu source")
    out = prepare_output(out_dir, overwrite)
    writer = CorpusWriter(out, seed)
    report = progress or (lambda stage, done, total: None)
    extra = {"hours_requested_procedural": hours, "workers": workers}
    pool = _pool(workers)
    try:
        if cmu is not None:
            trials, skipped = cmu_corpus.load_cmu(cmu, workers=workers,
                                                  progress=lambda d, t: report("cmu import", d, t))
            extra["cmu"] = {"source": str(cmu), "trials": len(trials), "skipped": skipped, "copies": cmu_copies,
                            "trial_hours": round(sum(len(t.joints) for t in trials) / FPS / 3600, 4)}
            tasks = [("cmu", (trial, cmu_copies), seed) for trial in trials]
            results = pool.imap(run_source, tasks) if pool else map(run_source, tasks)
            for done, result in enumerate(results, 1):
                writer.add(result)
                report("cmu clips", done, len(tasks))
        if hours > 0:
            extra["procedural"] = fill_procedural(writer, hours, seed, kinds, pool, report, workers)
    finally:
        if pool:
            pool.close()
            pool.join()
    extra["build_seconds"] = round(time.perf_counter() - started, 2)
    return writer.finish(extra)


def fill_procedural(writer, hours, seed, kinds, pool, report, workers=1):
    """Procedural sources, in order, until `hours` of unique motion are written.

    kinds None: the library's random mix (sample_random_clip); otherwise single clips round-robin over `kinds`.
    """
    available = list(procedural.ACTION_KINDS)
    unknown = sorted(set(kinds or ()) - set(available))
    if unknown:
        raise MotionError(f"unknown action kinds {', '.join(unknown)}; choose from {', '.join(available)}")
    if kinds is not None and not kinds:
        raise MotionError("--kinds is empty; name at least one action kind")
    target_frames = hours * 3600.0 * FPS
    unique_frames, index, sources = 0, 0, 0
    batch = PROCEDURAL_BATCH * max(1, workers)  # enough tasks in flight to keep every worker busy
    while unique_frames < target_frames:
        if kinds is None:
            tasks = [("procedural", (None, i), seed) for i in range(index, index + batch)]
        else:
            tasks = [("procedural", (kinds[i % len(kinds)], i // len(kinds)), seed)
                     for i in range(index, index + batch)]
        index += batch
        results = pool.imap(run_source, tasks) if pool else map(run_source, tasks)
        batch_frames = 0
        for result in results:
            if unique_frames >= target_frames:
                continue  # drain the batch; later sources are dropped, so the cut is the same for any worker count
            written = writer.add(result) / 2
            batch_frames += written
            unique_frames += written
            sources += 1
            report("procedural", min(unique_frames, target_frames) / FPS / 3600.0, hours)
        if batch_frames == 0:
            raise MotionError("the procedural library gave no usable clip (2 s or longer); check --kinds")
    return {"library_kinds": len(available), "kinds_used": "mix" if kinds is None else list(kinds),
            "sources": sources, "unique_hours": round(unique_frames / FPS / 3600.0, 4)}
