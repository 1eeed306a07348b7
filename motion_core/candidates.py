"""Best of several takes: generate N candidates for a prompt and keep the ones that show it best.

Diffusion samples differ from seed to seed: on the shipped model one take shows the suite prompt's action 82.5% of
the time, and some take of 6 does for 94.1% of the prompts (docs/results/candidates_study_dpmpp10_2core_cpu.json).
Generating a few candidates in one batch and keeping the best costs little on a GPU (one batch) and N times the
sampling on a CPU (judging: about 25 ms a take).

"Best" is decided by two judges, in this order:
  1. the action check (`motion.action_check`), when the prompt names actions it can read (`expectation_for`:
     walks, waves, sits, left/right, speeds, "A then B", ...): takes that show them come first;
  2. the text-motion evaluator (`models.evaluator`, the one `evaluate` uses for R-precision), which scores any prompt:
     the cosine between the prompt's embedding and the take's, on the take's HumanML3D features recomputed from its
     final joints (so the foot cleanup is judged too).
Ties keep the sampling order, so a seed still gives the same result every time.

The weights folder's evaluator.safetensors (shipped with the default weights and in the add-on zip) is loaded on
first use; without one, the action check alone decides.
Figures from `evaluate --actions` with candidates are picked by the same check that scores them; the model's own pass
rate is the one without candidates.
"""

from pathlib import Path

import numpy as np
import torch

from motion_core.models.evaluator import CONFIG_FILE, WEIGHTS_FILE, MotionTextEvaluator
from motion_core.motion.action_check import check_motion
from motion_core.motion.action_prompt import expectation_for
from motion_core.motion.features import joints_to_features


class CandidateJudge:
    """Ranks takes of one prompt, on the CPU. evaluator: a MotionTextEvaluator or None; normalize: features ->
    normalised features (the generator's VAE statistics); encode_text: list[str] -> (B, 384) sentence embeddings."""

    def __init__(self, evaluator, normalize, encode_text):
        self.evaluator, self.normalize, self.encode_text = evaluator, normalize, encode_text

    @classmethod
    def for_generator(cls, generator):
        """The judge of a MotionGenerator: its weights folder's evaluator (if there is one) and its text encoder."""
        folder = Path(getattr(generator, "weights_dir", "") or "")
        evaluator = None
        if folder.name and (folder / WEIGHTS_FILE).is_file() and (folder / CONFIG_FILE).is_file():
            evaluator = MotionTextEvaluator.from_pretrained(folder)
        text_encoder = generator.text_encoder
        mean, std = generator.vae.mean.detach().float().cpu(), generator.vae.std.detach().float().cpu()

        def encode_text(prompts):
            return text_encoder.encode(prompts).float().cpu()

        return cls(evaluator, lambda x: (x - mean) / std, encode_text)

    def action_checks(self, prompt, joints, fps):
        """One bool per take (does it show the actions the prompt names?), or None when it names none readable."""
        expectation = expectation_for(prompt)
        if not expectation:
            return None
        return [bool(check_motion(j, expectation, fps=fps)) for j in joints]

    @torch.no_grad()
    def similarities(self, prompt, joints):
        """Evaluator cosine between the prompt and each take (V,), or None without an evaluator. Takes longer than
        the evaluator's window are scored as the mean over windows that cover them."""
        if self.evaluator is None:
            return None
        text = self.evaluator.encode_text(self.encode_text([prompt]))[0]  # (E,)
        window = self.evaluator.config.max_frames - 4  # features have one frame fewer than joints
        scores = []
        for take in joints:
            features = torch.from_numpy(joints_to_features(take))  # (T-1, 263)
            starts = _window_starts(len(features), window)
            crops = torch.stack([features[s:s + window] for s in starts]) if len(features) > window else features[None]
            mask = torch.ones(crops.shape[:2], dtype=torch.bool)
            motion = self.evaluator.encode_motion(self.normalize(crops).float(), mask)  # (windows, E)
            scores.append(float((motion @ text).mean()))
        return scores

    def rank(self, prompt, joints, fps):
        """(order, report): take indices best first, and what each judge said (for Motion.info)."""
        checks = self.action_checks(prompt, joints, fps)
        sims = self.similarities(prompt, joints)
        report = {"count": len(joints), "action_check": checks,
                  "similarity": [round(s, 4) for s in sims] if sims else None}
        return sorted(range(len(joints)), key=lambda i: rank_key(report, i)), report


def rank_key(report, i):
    """Sort key of take i (smaller is better): shows the named actions, then evaluator similarity, then sampling
    order."""
    checks, sims = report["action_check"], report["similarity"]
    return (-(checks[i] if checks else 0), -(sims[i] if sims else 0.0), i)


def _window_starts(frames, window):
    """Starts of evenly spaced windows of `window` frames covering `frames` (overlapping by at least half)."""
    if frames <= window:
        return [0]
    count = int(np.ceil((frames - window) / (window / 2))) + 1
    return [int(round(s)) for s in np.linspace(0, frames - window, count)]


def pick(motion, judge, variations):
    """Keep one take per variation: `motion.joints` holds `variations` groups of candidates (takes
    v * n .. v * n + n - 1 for variation v), and each group's best is kept, so every variation is the best of its
    own n takes (not the best few of one pool). Returns the motion, with info["candidates"] saying what was drawn,
    how each take was judged, and which were kept."""
    per_variation = len(motion.joints) // variations
    _, report = judge.rank(motion.prompt, motion.joints, motion.fps)
    keep = []
    for v in range(variations):
        group = range(v * per_variation, (v + 1) * per_variation)
        keep.append(min(group, key=lambda i: rank_key(report, i)))
    motion.joints = motion.joints[keep]
    if motion.features is not None:
        motion.features = motion.features[keep]
    motion.info["candidates"] = report | {"kept": keep}
    return motion
