"""A generation request and its result: the one definition the engine, the worker and the add-on share.

numpy-only: Blender's Python imports it to build requests, set its sliders' limits and read results.
Motion space: metres, Y-up, +Z forward, FPS (20) frames per second, HumanML3D 22-joint SMPL order.

Limits. A generate request makes one segment of MIN_SECONDS..MAX_SECONDS, at most MAX_FRAMES frames (HumanML3D's
longest clip, 9.8 s; the paper's VAE decodes no more, and longer motions are timelines). A sequence request chains
segments of at least MIN_SECONDS each, up to MAX_TIMELINE_SECONDS in all (`motion.timeline` checks those). Every
sampling request shares seed, steps, guidance and variations (`validate_settings`) and a sampler (`validate_sampler`). Breaking a limit raises
MotionError with one line saying what to change.

Result file (.npz; `save_result` writes it atomically, `load_result` reads it back as a `Motion`):
    joints (V, T, 22, 3) float32, motion space;  fps () float32;  prompt () str;  seed () int64 (-1: none);
    a timeline's also segment_prompts (n,) str, segment_starts (n,) int64, segment_ends (n,) int64, frames
    [start, end) of each segment.
The worker writes it where the request's "out" says (the add-on: its results folder); the add-on reads it once and
bakes from memory.
"""

import math
import zipfile
import zlib
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Optional, Tuple

import numpy as np

from motion_core.errors import MotionError
from motion_core.motion.clip import Motion
from motion_core.motion.outputs import atomic_output
from motion_core.motion.skeleton import JOINT_NAMES
from motion_core.motion.splice import check_span
from motion_core.motion.timeline import MAX_TIMELINE_SECONDS, MIN_SEGMENT_SECONDS, check_segments  # noqa: F401

# MAX_TIMELINE_SECONDS is re-exported: the add-on's sliders read every limit from here.

FPS = 20.0  # HumanML3D's frame rate: the model's, and every result's
MAX_FRAMES = 196  # the longest HumanML3D clip: the longest segment one request makes
MIN_SECONDS = MIN_SEGMENT_SECONDS  # a shorter segment cannot show an action
MAX_SECONDS = MAX_FRAMES / FPS  # 9.8

DEFAULT_STEPS = 50  # DDIM steps (the paper's)
DEFAULT_GUIDANCE = 7.5  # classifier-free guidance scale (the paper's)
MAX_STEPS = 1000  # the diffusion's training steps: DDIM cannot take more
SAMPLERS = ("ddim", "dpmpp_2m")  # DDIM (the paper's, default) or DPM-Solver++(2M) (motion_core.diffusion)
DEFAULT_SAMPLER = "ddim"
MAX_GUIDANCE = 50.0
MAX_VARIATIONS = 64
MAX_CANDIDATES = 8  # takes drawn per kept variation (motion_core.candidates keeps the best)
MAX_SEED = 2 ** 63 - 1  # seeds are stored as int64

_FIX = "use a motion-mamba .npz whose \"joints\" is (frames, 22, 3)"  # the end of every file error


# ------------------------------------------------------------------------------------------------------ request

def _is_number(value):
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)


def _is_int(value):
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def validate_settings(seed, steps, guidance, variations):
    """Check the sampler settings every request shares (seed, steps, guidance, variations); MotionError if wrong."""
    if not _is_number(guidance) or not math.isfinite(guidance):
        raise MotionError(f"guidance must be a finite number, got {guidance!r}")
    if not 0.0 <= guidance <= MAX_GUIDANCE:
        raise MotionError(f"guidance must be between 0 and {MAX_GUIDANCE:g} ({DEFAULT_GUIDANCE:g} is typical), "
                          f"got {guidance:g}")
    if seed is not None and (not _is_int(seed) or not 0 <= seed <= MAX_SEED):
        raise MotionError(f"seed must be a whole number between 0 and 2^63-1, or empty for a random one, got {seed!r}")
    if not _is_int(steps) or not 1 <= steps <= MAX_STEPS:
        raise MotionError(f"steps must be a whole number between 1 and {MAX_STEPS} ({DEFAULT_STEPS} is typical), "
                          f"got {steps!r}")
    if not _is_int(variations) or not 1 <= variations <= MAX_VARIATIONS:
        raise MotionError(f"variations must be a whole number between 1 and {MAX_VARIATIONS}, got {variations!r}")


def validate_candidates(candidates, variations):
    """Check a request's candidates (takes drawn per kept variation); MotionError if wrong."""
    if not _is_int(candidates) or not 1 <= candidates <= MAX_CANDIDATES:
        raise MotionError(f"candidates must be a whole number between 1 and {MAX_CANDIDATES} (1 keeps every take), "
                          f"got {candidates!r}")
    if _is_int(variations) and candidates * variations > MAX_VARIATIONS:
        raise MotionError(f"candidates x variations must be at most {MAX_VARIATIONS} takes, got {candidates} x "
                          f"{variations}; ask for fewer")


def validate_sampler(sampler):
    """Check a request's sampler name; MotionError if it is not one of SAMPLERS."""
    if sampler not in SAMPLERS:
        raise MotionError(f"sampler must be one of {', '.join(SAMPLERS)}, got {sampler!r}")


def validate_request(prompt, seconds, seed, steps, guidance, variations):
    """Check a one-segment generation request; raise MotionError with what to change. Returns the cleaned prompt."""
    if not isinstance(prompt, str):
        raise MotionError(f"the prompt must be text, got {type(prompt).__name__}")
    validate_settings(seed, steps, guidance, variations)
    prompt = prompt.strip()
    if not prompt and guidance != 0:
        raise MotionError("the prompt is empty: describe the motion (e.g. 'a person walks forward'), "
                          "or set guidance to 0 for unconditional motion")
    if not _is_number(seconds) or not math.isfinite(seconds):
        raise MotionError(f"seconds must be a finite number, got {seconds!r}")
    if not MIN_SECONDS <= seconds <= MAX_SECONDS:
        raise MotionError(f"seconds must be between {MIN_SECONDS:g} and {MAX_SECONDS:g} (one segment), got {seconds:g}")
    return prompt


@dataclass
class GenerateRequest:
    """One segment: `prompt` for `seconds`. The fields of the worker's "generate" request (see motion_core.worker)."""

    prompt: str
    seconds: float
    seed: Optional[int] = None  # None: a random one, reported in the result
    steps: int = DEFAULT_STEPS
    guidance: float = DEFAULT_GUIDANCE
    variations: int = 1
    foot_cleanup: bool = True  # pin the feet where the model's contact channels say they are planted
    out: Optional[str] = None  # where the result .npz goes (None: the worker's own temporary folder)
    sampler: str = DEFAULT_SAMPLER  # "dpmpp_2m": DPM-Solver++(2M), as good at 10 steps as DDIM at 50 on the shipped model
    candidates: int = 1  # takes drawn per variation; the best are kept (motion_core.candidates)

    def checked(self) -> "GenerateRequest":
        """This request with its prompt stripped; MotionError (one line) if any field breaks a limit."""
        prompt = validate_request(self.prompt, self.seconds, self.seed, self.steps, self.guidance, self.variations)
        validate_sampler(self.sampler)
        validate_candidates(self.candidates, self.variations)
        return replace(self, prompt=prompt)

    def message(self, request_id: str) -> dict:
        """The worker's JSON request."""
        return {"id": request_id, "type": "generate", "prompt": self.prompt, "seconds": self.seconds,
                "candidates": self.candidates, **_sampling_fields(self)}


@dataclass
class SequenceRequest:
    """A timeline: (prompt, seconds) segments made into one motion. The fields of the worker's "sequence" request,
    except that `start` is the joints themselves (the worker reads them from an .npz: see `message`)."""

    segments: Tuple[Tuple[str, float], ...]
    seed: Optional[int] = None
    steps: int = DEFAULT_STEPS
    guidance: float = DEFAULT_GUIDANCE
    variations: int = 1
    foot_cleanup: bool = True
    start: Optional[np.ndarray] = None  # (n, 22, 3) motion space: the motion so far, continued from its last pose
    out: Optional[str] = None
    sampler: str = DEFAULT_SAMPLER

    @property
    def prompt(self) -> str:
        return "; ".join(prompt for prompt, _ in self.segments)

    def checked(self) -> "SequenceRequest":
        """This request with its segments cleaned (`timeline.check_segments`); MotionError if anything is wrong."""
        validate_settings(self.seed, self.steps, self.guidance, self.variations)
        validate_sampler(self.sampler)
        segments = tuple((s.prompt, s.seconds) for s in check_segments(self.segments))
        return replace(self, segments=segments)

    def message(self, request_id: str, start_path: Optional[str] = None) -> dict:
        """The worker's JSON request; `start_path`: the .npz holding `start` (None when there is no start)."""
        return {"id": request_id, "type": "sequence", "start": start_path,
                "segments": [{"prompt": p, "seconds": s} for p, s in self.segments], **_sampling_fields(self)}


@dataclass
class EditRequest:
    """Regenerate frames first+1 .. last-1 of a motion with `prompt`, keeping the frames around them (span edits and
    in-betweening). The fields of the worker's "edit" request, except that `joints` are the motion itself (the worker
    reads it from an .npz: see `message`)."""

    joints: np.ndarray  # (T, 22, 3) motion space, FPS frames per second
    first: int  # the last kept frame before the span
    last: int  # the first kept frame after it
    prompt: str
    seed: Optional[int] = None
    steps: int = DEFAULT_STEPS
    guidance: float = DEFAULT_GUIDANCE
    variations: int = 1
    foot_cleanup: bool = True
    out: Optional[str] = None
    sampler: str = DEFAULT_SAMPLER

    def checked(self) -> "EditRequest":
        """This request with its prompt stripped; MotionError (one line) if a field breaks a limit."""
        validate_settings(self.seed, self.steps, self.guidance, self.variations)
        validate_sampler(self.sampler)
        prompt = self.prompt.strip() if isinstance(self.prompt, str) else ""
        if not prompt:
            raise MotionError("the prompt is empty: describe what happens in the edited span")
        joints = np.asarray(self.joints)
        if joints.ndim != 3 or joints.shape[1:] != (len(JOINT_NAMES), 3):
            raise MotionError(f"the motion to edit must be joints of shape (frames, 22, 3), got {joints.shape}")
        if len(joints) / FPS > MAX_TIMELINE_SECONDS:
            raise MotionError(f"the motion to edit is {len(joints) / FPS:.0f} s long; edit motions of at most "
                              f"{MAX_TIMELINE_SECONDS / 60:g} minutes")
        check_span(len(joints), self.first, self.last)
        return replace(self, prompt=prompt)

    def message(self, request_id: str, motion_path: str) -> dict:
        """The worker's JSON request; `motion_path`: the .npz holding `joints`."""
        return {"id": request_id, "type": "edit", "motion": motion_path, "first": int(self.first),
                "last": int(self.last), "prompt": self.prompt, **_sampling_fields(self)}


def _sampling_fields(request) -> dict:
    return {"seed": request.seed, "steps": request.steps, "guidance": request.guidance,
            "variations": request.variations, "foot_cleanup": request.foot_cleanup, "out": request.out,
            "sampler": request.sampler}


# ------------------------------------------------------------------------------------------------------ result

def save_result(path, motion: Motion, what="the result") -> None:
    """Write `motion` as a result .npz (keys in the module docstring), atomically: a reader never sees half a file,
    and a full disk is a one-line MotionError that leaves `path` as it was."""
    arrays = {"joints": np.asarray(motion.joints, dtype=np.float32), "fps": np.float32(motion.fps),
              "prompt": np.str_(motion.prompt), "seed": np.int64(-1 if motion.seed is None else motion.seed)}
    with atomic_output(path, what) as tmp:
        np.savez(tmp, **arrays, **segment_arrays(motion.segments))


def segment_arrays(segments) -> dict:
    """A timeline's (prompt, first frame, end frame) segments as the .npz keys (none for no segments); the motion
    files of `motion_core.motion.export` keep them the same way."""
    if not segments:
        return {}
    prompts, starts, ends = zip(*segments)
    return {"segment_prompts": np.array(prompts, dtype=str), "segment_starts": np.array(starts, np.int64),
            "segment_ends": np.array(ends, np.int64)}


def load_joints(path, what="the motion") -> Tuple[np.ndarray, dict]:
    """The "joints" of an .npz as (V, T, 22, 3) float32 (a (T, 22, 3) file is one variation), and its other arrays.

    Reads result files and the motion .npz files `motion_core.motion.export` writes. Anything else (a missing or
    damaged file, no "joints", another shape, NaN) is one MotionError naming the file and `what` it was read for."""
    name = _short(path)
    try:
        data = np.load(Path(path).expanduser(), allow_pickle=False)
        if not isinstance(data, np.lib.npyio.NpzFile):  # a plain .npy: one array, no names
            raise ValueError("a single array, not an .npz")
        with data:
            arrays = {key: data[key] for key in data.files}
    # Missing, unreadable, truncated or not an .npz, or holding pickled objects.
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error) as error:
        raise MotionError(f"cannot read joints for {what} from {name} ({error}); {_FIX}") from None
    if "joints" not in arrays:
        raise MotionError(f"{name} (for {what}) has no \"joints\" array; {_FIX}")
    joints = arrays.pop("joints")
    if (joints.ndim not in (3, 4) or joints.shape[-2:] != (len(JOINT_NAMES), 3) or joints.shape[-3] < 1
            or not np.issubdtype(joints.dtype, np.number)):
        raise MotionError(f"{name} (for {what}) holds joints of shape {tuple(joints.shape)}, not (frames, 22, 3); "
                          f"{_FIX}")
    if joints.ndim == 3:
        joints = joints[None]
    joints = joints.astype(np.float32)
    if not np.isfinite(joints).all():
        raise MotionError(f"{name} (for {what}) has NaN or infinite joints; {_FIX}")
    return joints, arrays


def load_result(path, what="the result") -> Motion:
    """A result .npz (see the module docstring) as a Motion; MotionError (one line) for a file of another format."""
    joints, arrays = load_joints(path, what)
    name = _short(path)
    fps = _scalar(arrays, "fps", float, FPS, name, what)
    if not (math.isfinite(fps) and fps > 0):
        raise MotionError(f"{name} (for {what}) has fps {fps:g}, not a positive number; {_FIX}")
    seed = _scalar(arrays, "seed", int, -1, name, what)
    segments = []
    if "segment_prompts" in arrays:
        try:
            segments = [(str(p), int(a), int(b)) for p, a, b in
                        zip(arrays["segment_prompts"], arrays["segment_starts"], arrays["segment_ends"], strict=True)]
        except (KeyError, TypeError, ValueError) as error:  # a key missing, lists of other lengths, not numbers
            raise MotionError(f"{name} (for {what}) has broken timeline segments ({error}); {_FIX}") from None
    return Motion(joints=joints, fps=fps, prompt=_scalar(arrays, "prompt", str, "", name, what),
                  seed=None if seed < 0 else seed, segments=segments)


def _scalar(arrays, key, kind, default, name, what):
    """The one value stored under `key` as `kind` (`default` when absent), or MotionError naming the key."""
    if key not in arrays:
        return default
    value = arrays[key]
    try:
        if np.ndim(value) != 0:
            raise ValueError(f"an array of shape {tuple(np.shape(value))}")
        return kind(value.item())
    except (TypeError, ValueError) as error:
        raise MotionError(f"{name} (for {what}): \"{key}\" must be one {kind.__name__} ({error}); {_FIX}") from None


def _short(path) -> str:
    text = str(path)
    return repr(text) if len(text) <= 80 else repr("..." + text[-77:])
