"""Real CMU mocap trials for the corpus: find, dedupe, import, pack, describe and segment them.

The CMU sample (`../shared/data/cmu`, free for all uses; see its README) holds the same trial in several folders and
skeleton conventions. Trials are keyed `SS_TT` (subject, trial; `0SS_TT.bvh` in the iClone folder reads the same) and
each is imported once, from the first folder in CONVENTION_PREFERENCE that has it and imports cleanly.

A pack (`save_pack` / `load_pack`, an .npz of 20 fps joints + CMU descriptions, a few MB) carries the imported trials
to machines that cannot see the shared folder. Joints: (T, 22, 3) metres, Y-up, +Z forward at frame 0, 20 fps,
HumanML3D 22-joint order.
"""

import csv
import multiprocessing
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from motion_core.errors import MotionError
from motion_core.motion.mocap import import_motion
from motion_core.motion.protocol import FPS, MAX_FRAMES

# Original ASF/AMC first; then the BVH conversions with the cleanest skeletons; the iClone retarget last.
CONVENTION_PREFERENCE = ("amc", "bvh-mb", "bvh-daz", "bvh-max", "bvh-iclone")
TRIAL_NAME = re.compile(r"^0*(\d+)_(\d+)\.(bvh|amc)$", re.IGNORECASE)
# HumanML3D keeps clips of 40..196 frames (2..9.8 s at 20 fps).
MIN_CLIP_FRAMES = 40
MAX_CLIP_FRAMES = MAX_FRAMES


@dataclass
class CmuTrial:
    """One imported trial. joints: (T, 22, 3) float32 at 20 fps; description: CMU's one-line text."""

    trial_id: str
    joints: np.ndarray
    description: str
    convention: str


def trial_id_of(subject, trial):
    return f"{int(subject):02d}_{int(trial):02d}"


def find_trial_files(cmu_dir):
    """Every trial once, with its candidate files in preference order.

    Returns dict trial_id -> list of (folder, path, asf_path_or_None), sorted by trial id.
    """
    cmu_dir = Path(cmu_dir)
    found = {}
    for folder in CONVENTION_PREFERENCE:
        for path in sorted((cmu_dir / folder).glob("*")):
            match = TRIAL_NAME.match(path.name)
            if not match:
                continue
            asf = None
            if match.group(3).lower() == "amc":
                asf = next((p for p in path.parent.glob("*.asf") if p.stem.lstrip("0") == match.group(1).lstrip("0")), None)
                if asf is None:
                    continue
            found.setdefault(trial_id_of(match.group(1), match.group(2)), []).append((folder, path, asf))
    return dict(sorted(found.items()))


def read_descriptions(csv_path):
    """CMU's descriptions.csv -> dict trial_id -> description ("walk", "playground - climb", ...)."""
    descriptions = {}
    with open(csv_path, newline="", encoding="utf-8", errors="replace") as handle:
        for row in csv.DictReader(handle):
            try:
                key = trial_id_of(row["Subject"], row["Trial #"])
            except (KeyError, ValueError):
                continue
            descriptions[key] = (row.get("Motion Description") or "").strip()
    return descriptions


def peak_joint_speed(joints, fps=FPS):
    """Fastest any joint moves between two frames, in m/s. joints: (T, 22, 3)."""
    if len(joints) < 2:
        return 0.0
    return float(np.linalg.norm(np.diff(joints, axis=0), axis=-1).max() * fps)


def _import_one(candidates):
    """Import every candidate file of a trial and keep the cleanest.

    Conversions of one trial differ in quality (a converter's glitch shows as a joint moving implausibly fast), so
    the first candidate in preference order whose peak joint speed is within 25% of the best one wins.
    Returns (joints, convention) or (None, reasons).
    """
    imported, reasons = [], []
    for folder, path, asf in candidates:
        try:
            motion = import_motion(str(path), asf=str(asf) if asf else None, fps=FPS)
        except (MotionError, ValueError) as error:
            reasons.append(f"{folder}/{path.name}: {error}")
            continue
        joints = np.asarray(motion.joints, dtype=np.float32)
        imported.append((peak_joint_speed(joints), folder, joints))
    if not imported:
        return None, "; ".join(reasons)
    best = min(peak for peak, _, _ in imported)
    _, folder, joints = next(item for item in imported if item[0] <= 1.25 * best)
    return joints, folder


def _import_task(item):
    trial_id, candidates = item
    joints, convention_or_reason = _import_one(candidates)
    return trial_id, joints, convention_or_reason


def import_trials(cmu_dir, workers=1, progress=None):
    """Import every trial of a CMU folder once (deduplicated by trial id).

    Returns (trials: list[CmuTrial] sorted by id, skipped: dict trial_id -> reason). progress(done, total) is called
    after each trial.
    """
    cmu_dir = Path(cmu_dir)
    if not cmu_dir.is_dir():
        raise MotionError(f"CMU folder {cmu_dir} not found; pass --cmu with the folder or a pack made by pack-cmu")
    files = find_trial_files(cmu_dir)
    if not files:
        raise MotionError(f"no CMU trials (SS_TT.bvh / .amc) under {cmu_dir}; check the --cmu folder")
    csv_path = cmu_dir / "descriptions.csv"
    descriptions = read_descriptions(csv_path) if csv_path.is_file() else {}
    items = list(files.items())
    trials, skipped = [], {}

    def collect(results):
        for done, (trial_id, joints, info) in enumerate(results, 1):
            if joints is None or len(joints) < MIN_CLIP_FRAMES:
                skipped[trial_id] = info if joints is None else f"only {len(joints)} frames"
            else:
                trials.append(CmuTrial(trial_id, joints, descriptions.get(trial_id, ""), info))
            if progress:
                progress(done, len(items))

    if workers > 1:
        with multiprocessing.get_context("spawn").Pool(workers) as pool:
            collect(pool.imap(_import_task, items))
    else:
        collect(map(_import_task, items))
    return trials, skipped


def save_pack(trials, path):
    """Write trials to one compressed .npz, no pickled objects.

    Root paths are float32 (T, 3); joints relative to the root are float16 (sub-millimetre steps within 1 m), which
    keeps the sample to a few MB.
    """
    lengths = np.array([len(t.joints) for t in trials], dtype=np.int64)
    joints = np.concatenate([t.joints for t in trials]).astype(np.float32)  # (F, 22, 3)
    root = joints[:, 0].copy()
    local = (joints - root[:, None, :]).astype(np.float16)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(
        path,
        format=np.array("motion-mamba-cmu-pack-1"),
        fps=np.float32(FPS),
        trial_ids=np.array([t.trial_id for t in trials]),
        descriptions=np.array([t.description for t in trials]),
        conventions=np.array([t.convention for t in trials]),
        offsets=np.concatenate([[0], np.cumsum(lengths)]),
        root=root,
        local=local,
    )
    return path


def load_pack(path):
    """Trials from a pack written by save_pack. Returns list[CmuTrial]."""
    try:
        with np.load(path, allow_pickle=False) as pack:
            if str(pack["format"]) != "motion-mamba-cmu-pack-1":
                raise KeyError("format")
            offsets = pack["offsets"]
            root, local = pack["root"], pack["local"].astype(np.float32)
            joints = local + root[:, None, :]
            return [
                CmuTrial(str(trial_id), joints[offsets[i]:offsets[i + 1]], str(description), str(convention))
                for i, (trial_id, description, convention) in enumerate(
                    zip(pack["trial_ids"], pack["descriptions"], pack["conventions"])
                )
            ]
    except (OSError, KeyError, ValueError) as error:
        raise MotionError(f"{path} is not a CMU pack ({error}); make one with `motion-mamba corpus pack-cmu`") from None


def load_cmu(source, workers=1, progress=None):
    """Trials from a CMU folder (imported now) or a pack .npz. Returns (trials, skipped)."""
    source = Path(source)
    if source.suffix == ".npz":
        if not source.is_file():
            raise MotionError(f"CMU pack {source} not found; make one with `motion-mamba corpus pack-cmu`")
        return load_pack(source), {}
    return import_trials(source, workers=workers, progress=progress)


# --------------------------------------------------------------------------------------------------------------
# Descriptions -> captions
# --------------------------------------------------------------------------------------------------------------

# First words of CMU action phrases that are verbs, with their third-person form where it is not just "+s".
THIRD_PERSON = {"do": "does", "go": "goes", "reach": "reaches", "punch": "punches", "wash": "washes",
                "stretch": "stretches", "touch": "touches", "catch": "catches", "cross": "crosses"}
CMU_VERBS = set(
    """walk run jog jump hop leap turn spin climb sit dangle rock lower bend scoop rise lift punch strike wash balance
    dance dribble shoot start stop stand kick throw catch reach grab swing step stretch push pull pick carry wave
    clap bow kneel crawl roll skip march squat lunge fall stumble look point raise swim box""".split()
)
ADVERB_OF = {"slow": "slowly", "brisk": "briskly", "fast": "fast", "quick": "quickly", "forward": "forward",
             "backward": "backwards", "sideways": "sideways"}
CONTEXT_PHRASE = {"playground": "on a playground", "basketball": "while playing basketball",
                  "dance": "while dancing", "swordplay": "with a sword"}
# Phrases about a held posture read as "with ..." ("outstretched arms" -> "with outstretched arms").
POSTURE_WORDS = {"arms", "legs", "outstretched", "expressive", "folding"}


def _third_person(verb):
    return THIRD_PERSON.get(verb, verb + "s")


def _action_phrases(phrase):
    """One CMU action phrase as verb phrases: "slow walk" -> ["walks slowly"], "climb" -> ["climbs"],
    "forward jumps" -> ["jumps forward"], "start walk stop" -> ["starts", "walks", "stops"], else ["does a X"]."""
    words = phrase.lower().split()
    # "punch/strike", "walk/stride": keep the first alternative of each slashed word.
    words = [w.split("/")[0] if "/" in w else w for w in words]
    words = ["themselves" if w == "self" else w for w in words]
    if not words:
        return []
    if len(words) > 1 and all(w in CMU_VERBS for w in words):
        return [_third_person(w) for w in words]
    if words[0] in CMU_VERBS:
        return [" ".join([_third_person(words[0])] + words[1:])]
    if len(words) >= 2 and words[0] in ADVERB_OF and words[1].rstrip("s") in CMU_VERBS:
        verb = words[1].rstrip("s")
        return [" ".join([_third_person(verb), ADVERB_OF[words[0]]] + words[2:])]
    if words[0] in POSTURE_WORDS or words[-1] in POSTURE_WORDS:
        return ["with " + " ".join(words)]
    plural = words[-1].endswith("s") and not words[-1].endswith(("ss", "ous"))
    article = "" if plural or words[0] == "swordplay" else ("an " if words[0][0] in "aeiou" else "a ")
    return [f"does {article}{' '.join(words)}"]


def _join_actions(phrases, final):
    """Verb phrases joined with commas and `final` ("then" / "and"); posture phrases ("with ...") go last."""
    verbs = [p for p in phrases if not p.startswith("with ")] or ["moves"]
    postures = [p[len("with "):] for p in phrases if p.startswith("with ")]
    text = verbs[0] if len(verbs) == 1 else ", ".join(verbs[:-1]) + f"{',' if final == 'then' else ''} {final} " + verbs[-1]
    return text + (" with " + " and ".join(postures) if postures else "")


def description_captions(description):
    """Base captions from a terse CMU description.

    "playground - forward jumps, turn around" -> ["a person jumps forward, then turns around on a playground",
    "someone jumps forward and turns around"]. Empty description -> [].
    """
    text = description.strip().strip(".")
    if not text:
        return []
    context = None
    if " - " in text:
        head, text = text.split(" - ", 1)
        context = CONTEXT_PHRASE.get(head.strip().lower())
    phrases = [p for part in re.split(r",|;", text) for p in _action_phrases(part)]
    if not phrases:
        return []
    first = f"a person {_join_actions(phrases, 'then')}" + (f" {context}" if context else "")
    return [first, f"someone {_join_actions(phrases, 'and')}"]


# --------------------------------------------------------------------------------------------------------------
# Segmentation
# --------------------------------------------------------------------------------------------------------------


# No joint of a real body covers 0.75 m in 50 ms; faster steps are capture or conversion glitches.
GLITCH_SPEED = 15.0


def clean_pieces(joints, fps=FPS, max_speed=GLITCH_SPEED):
    """Frame ranges of a trial between glitches (steps faster than max_speed m/s), each at least MIN_CLIP_FRAMES.

    joints: (T, 22, 3). Returns a list of (start, end) frame pairs.
    """
    if len(joints) < 2:
        return []
    step_speed = np.linalg.norm(np.diff(joints, axis=0), axis=-1).max(axis=1) * fps  # (T-1,)
    cuts = np.flatnonzero(step_speed > max_speed) + 1  # a glitch step i -> i+1 starts a new piece at i+1
    bounds = np.concatenate([[0], cuts, [len(joints)]])
    pieces = []
    for start, end in zip(bounds[:-1], bounds[1:]):
        # The frame before a glitch step belongs to neither side's clean motion: drop it from the left piece.
        end = end - 1 if end < len(joints) else end
        if end - start >= MIN_CLIP_FRAMES:
            pieces.append((int(start), int(end)))
    return pieces


def segment_frames(frames, rng, min_frames=MIN_CLIP_FRAMES, max_frames=MAX_CLIP_FRAMES, start=0):
    """Cut frames [start, frames) into consecutive clips of min_frames..max_frames frames.

    Clip lengths are drawn from [2 * min_frames, max_frames] so most clips are long (4..9.8 s), and the last piece
    is kept only if it is at least min_frames long. Returns a list of (start, end) frame pairs.
    """
    pieces = []
    position = start
    while frames - position > max_frames:
        length = int(rng.integers(min(2 * min_frames, max_frames), max_frames + 1))
        if frames - position - length < min_frames:
            length = frames - position - min_frames
        pieces.append((position, position + length))
        position += length
    if frames - position >= min_frames:
        pieces.append((position, frames))
    return pieces
