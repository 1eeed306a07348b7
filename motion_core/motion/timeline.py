"""Timelines: segments of (prompt, seconds) played one after another as one motion, and how the sampler covers them.

numpy only: the add-on reads the limits from here, the CLI reads timeline files through here, and the engine plans
its windows here. Conventions: 20 fps motion (the model's fps is passed in), frames counted from 0.

A timeline file (`motion-mamba generate --timeline shot.json`):
    {"segments": [{"prompt": "a person walks to the door", "seconds": 4.0}, {"prompt": "sits down", "seconds": 3}]}
The inline form of the same: "a person walks to the door:4; sits down:3" (PROMPT:SECONDS parts joined by ';').

Why windows: the denoiser sees at most `latent_size` (49) latent tokens (9.8 s), while a timeline runs up to 10
minutes. The engine samples the latent sequence window by window; each window starts with up to `overlap` tokens that
are already final (the previous window's end, or the user's motion) and inpaints them, so the new tokens continue
them (`plan_windows`), or, the default, all windows are denoised together and blended across overlaps centred on
each seam (`plan_parallel_windows`, `blend_weights`). All windows together decode at once (the conv VAE is
length-free), so there is no seam in the decoder either. Cost is linear in length: every token is sampled once, plus
the overlaps.
"""

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from motion_core.errors import MotionError

MIN_SEGMENT_SECONDS = 1.0  # a shorter segment cannot show an action (5 latent tokens)
MAX_TIMELINE_SECONDS = 600.0  # 10 minutes
MAX_PROMPT_CHARS = 1000
SEAM_RADIUS_FRAMES = 4  # frames either side of a seam that count as "near" it (one latent token at 20 fps)


@dataclass(frozen=True)
class Segment:
    """One shot of a timeline: what happens and for how long."""

    prompt: str
    seconds: float


@dataclass(frozen=True)
class Window:
    """One denoising window over latent tokens [start, stop); `segment` picks its prompt. Which of its tokens are
    already known (inpainted) is decided when it runs: the global known mask plus everything sampled before it."""

    start: int
    stop: int
    segment: int


# ------------------------------------------------------------------------------------------------------ input

def _is_number(value):
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)


def check_segments(segments):
    """Segments from Segment objects, (prompt, seconds) pairs or {"prompt", "seconds"} dicts -> list[Segment].

    Raises MotionError (one line, what to change) for an empty list, a missing or empty prompt, a segment under
    MIN_SEGMENT_SECONDS, or a timeline longer than MAX_TIMELINE_SECONDS.
    """
    if isinstance(segments, (str, bytes, dict)) or not hasattr(segments, "__iter__"):
        raise MotionError("a timeline must be a list of (prompt, seconds) segments")
    out = []
    for n, item in enumerate(segments, start=1):
        if isinstance(item, Segment):
            prompt, seconds = item.prompt, item.seconds
        elif isinstance(item, dict):
            unknown = sorted(set(item) - {"prompt", "seconds"})
            if unknown or "prompt" not in item or "seconds" not in item:
                raise MotionError(f"segment {n} must be {{\"prompt\": ..., \"seconds\": ...}}"
                                  + (f", not {unknown[0]!r}" if unknown else ""))
            prompt, seconds = item["prompt"], item["seconds"]
        elif isinstance(item, (tuple, list)) and len(item) == 2:
            prompt, seconds = item
        else:
            raise MotionError(f"segment {n} must be a (prompt, seconds) pair, got {item!r:.60}")
        if not isinstance(prompt, str) or not prompt.strip():
            raise MotionError(f"segment {n} has no prompt: describe what happens (e.g. 'a person sits down')")
        if len(prompt) > MAX_PROMPT_CHARS:
            raise MotionError(f"segment {n}'s prompt is over {MAX_PROMPT_CHARS} characters; shorten it")
        if not _is_number(seconds) or not math.isfinite(seconds) or seconds < MIN_SEGMENT_SECONDS:
            raise MotionError(f"segment {n} must last at least {MIN_SEGMENT_SECONDS:g} s, got {seconds!r}")
        out.append(Segment(prompt.strip(), float(seconds)))
    if not out:
        raise MotionError("the timeline has no segments; add at least one (prompt, seconds)")
    total = sum(s.seconds for s in out)
    if total > MAX_TIMELINE_SECONDS + 1e-9:
        raise MotionError(f"the timeline lasts {total:g} s; at most {MAX_TIMELINE_SECONDS:g} s (10 minutes) fit in "
                          "one generation")
    return out


def parse_inline(text):
    """'walks forward:4; sits down:3' -> segments (each part PROMPT:SECONDS, the last ':' splits)."""
    segments = []
    for part in (p.strip() for p in text.split(";")):
        if not part:
            continue
        prompt, colon, seconds = part.rpartition(":")
        try:
            value = float(seconds)
        except ValueError:
            value = None
        if not colon or value is None:
            raise MotionError(f"timeline part {part!r:.60} must be PROMPT:SECONDS, e.g. 'a person sits down:3'")
        segments.append((prompt, value))
    return check_segments(segments)


def load_timeline(path):
    """A timeline JSON file ({"segments": [{"prompt": str, "seconds": number}, ...]}) -> segments."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise MotionError(f"timeline file not found: {path}")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise MotionError(f"{path} is not a JSON timeline ({error}); write {{\"segments\": [...]}}") from None
    if not isinstance(data, dict) or set(data) != {"segments"} or not isinstance(data["segments"], list):
        raise MotionError(f"{path} must hold {{\"segments\": [{{\"prompt\": ..., \"seconds\": ...}}, ...]}} "
                          "and nothing else")
    return check_segments(data["segments"])


def read_timeline(text):
    """The CLI's --timeline value: a path to a .json file, or the inline form."""
    if text.strip().lower().endswith(".json") or Path(text).expanduser().is_file():
        return load_timeline(text)
    return parse_inline(text)


# ------------------------------------------------------------------------------------------------------ layout

def segment_bounds(segments, fps):
    """Frame boundaries (n + 1,) int: segment i plays frames [bounds[i], bounds[i+1]). Boundaries are rounded from
    the cumulative time, so rounding never adds up along a long timeline."""
    ends = np.cumsum([s.seconds for s in segments])
    return np.concatenate([[0], np.round(ends * fps)]).astype(np.int64)


def token_owners(bounds, factor):
    """(L,) int: the segment each latent token belongs to, by the frame at its middle; L = ceil(frames / factor)."""
    frames = int(bounds[-1])
    tokens = math.ceil(frames / factor)
    middle = np.minimum(np.arange(tokens) * factor + factor // 2, frames - 1)
    return np.searchsorted(bounds, middle, side="right") - 1


def _even_split(total, parts):
    base, extra = divmod(total, parts)
    return [base + (i < extra) for i in range(parts)]


def plan_windows(owners, known, max_tokens, overlap):
    """Cover every unknown latent token with windows of at most `max_tokens` tokens, in order.

    owners: (L,) int segment per token (a window never mixes two segments' new tokens); known: (L,) bool, tokens
    given before sampling starts. Each window holds up to `overlap` tokens before its new ones (known by the time it
    runs) and, when its new run ends where given tokens begin, up to `overlap` of those. Runs longer than a window
    are split evenly. Returns list[Window].
    """
    owners, known = np.asarray(owners), np.asarray(known, dtype=bool)
    if max_tokens < 2 * overlap + 1:
        raise ValueError(f"max_tokens {max_tokens} leaves no room for new tokens beside 2 x overlap {overlap}")
    L = len(owners)
    windows = []
    for p, q in _unknown_runs(owners, known):
        right = 0  # given tokens just after the run, read as context by its last window
        while q + right < L and known[q + right] and right < overlap:
            right += 1
        for parts in range(max(1, math.ceil((q - p) / max_tokens)), q - p + 1):
            sizes = _even_split(q - p, parts)
            starts = p + np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(int)
            fits = [min(overlap, s) + n + (right if i == parts - 1 else 0) <= max_tokens
                    for i, (s, n) in enumerate(zip(starts, sizes))]
            if all(fits):
                break
        for i, (s, n) in enumerate(zip(starts, sizes)):
            stop = s + n + (right if i == parts - 1 else 0)
            windows.append(Window(start=int(s - min(overlap, s)), stop=int(stop), segment=int(owners[p])))
    return windows


def plan_parallel_windows(owners, known, max_tokens, margin):
    """Windows for sampling all at once (`inpainting`, parallel windows): every run of one segment's unknown tokens
    is split evenly into as few parts as fit, and each part is widened by `margin` tokens on both sides (clamped to
    the sequence, at most `max_tokens` in all), so neighbouring windows share 2 x margin tokens centred on the seam
    between them: each segment's prompt keeps its own tokens but their outer `margin` ones, where the two prompts'
    predictions are blended (`blend_weights`). Tokens in `known` are never new, only context. Returns list[Window].
    """
    owners, known = np.asarray(owners), np.asarray(known, dtype=bool)
    if max_tokens < 2 * margin + 1:
        raise ValueError(f"max_tokens {max_tokens} leaves no room for new tokens beside 2 x margin {margin}")
    L = len(owners)
    windows = []
    for p, q in _unknown_runs(owners, known):
        for parts in range(1, q - p + 1):
            starts = p + np.concatenate([[0], np.cumsum(_even_split(q - p, parts))]).astype(int)
            spans = [(max(0, a - margin), min(L, b + margin)) for a, b in zip(starts[:-1], starts[1:])]
            if all(b - a <= max_tokens for a, b in spans):
                break
        windows += [Window(start=int(a), stop=int(b), segment=int(owners[p])) for a, b in spans]
    return windows


def _unknown_runs(owners, known):
    """(p, q) of every run [p, q) of unknown tokens that belong to one segment, in order."""
    L, p = len(owners), 0
    while p < L:
        if known[p]:
            p += 1
            continue
        q = p
        while q < L and not known[q] and owners[q] == owners[p]:
            q += 1
        yield p, q
        p = q


def blend_weights(windows, length):
    """Per-window token weights for denoising all windows at once (`inpainting`, parallel windows).

    Where two windows in a row overlap by o tokens, the later one's weight ramps up over them, (j + 1) / (o + 1) at
    overlap token j, and the earlier one's ramps down by the complement, so a token's prediction passes from one
    prompt to the next across the overlap instead of jumping at its middle (the handshake of DoubleTake / PriorMDM,
    MultiDiffusion's averaging with a linear taper). Returns (list of (n_w,) float64 arrays, one per window, every
    value in (0, 1]; (length,) float64 sum of the weights over the windows at each token, 0 where none covers it).
    """
    weights = [np.ones(w.stop - w.start) for w in windows]
    for k in range(1, len(windows)):
        a, b = windows[k - 1], windows[k]
        o = min(a.stop, b.stop) - b.start  # tokens [b.start, b.start + o) are in both
        if o <= 0 or b.start < a.start:
            continue
        ramp = np.arange(1, o + 1) / (o + 1)
        weights[k][:o] *= ramp
        weights[k - 1][b.start - a.start:b.start - a.start + o] *= 1.0 - ramp
    total = np.zeros(length)
    for w, weight in zip(windows, weights):
        total[w.start:w.stop] += weight
    return weights, total


# ------------------------------------------------------------------------------------------------------ measurement

def frame_jerk(joints, fps):
    """(T-3,) the largest jerk |d^3 x / dt^3| over joints, m/s^3; value i spans frames i..i+3. joints: (T, J, 3)."""
    jerk = np.diff(np.asarray(joints, np.float64), n=3, axis=0) * fps ** 3  # (T-3, J, 3)
    return np.linalg.norm(jerk, axis=-1).max(axis=-1)


def seam_smoothness(joints, seams, fps, radius=SEAM_RADIUS_FRAMES):
    """How a timeline's seams compare with the motion inside its segments.

    joints: (T, J, 3) metres; seams: frames where a segment starts (not 0). A jerk value is "near" a seam when its
    four frames come within `radius` frames of it. Returns {"seam_max": largest jerk near any seam, "inside_p95":
    95th percentile of the other jerk values, "ratio": seam_max / inside_p95} (m/s^3; ratio <= 1.2 passes issue 11).
    """
    jerk = frame_jerk(joints, fps)
    index = np.arange(len(jerk))
    near = np.zeros(len(jerk), dtype=bool)
    for seam in seams:
        near |= (index + 3 >= seam - radius) & (index <= seam + radius)
    seam_max = float(jerk[near].max()) if near.any() else 0.0
    inside = float(np.percentile(jerk[~near], 95)) if (~near).any() else 0.0
    return {"seam_max": seam_max, "inside_p95": inside, "ratio": seam_max / inside if inside > 0 else float("inf")}
