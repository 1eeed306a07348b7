"""Evaluation of text-to-motion models on a corpus split: Guo et al.'s protocol with our own evaluator.

Per repeat r (T2M uses 20; each gives one value per metric, reported as mean ± 1.96·std/√repeats):
  1. every test segment gets a random caption and a T2M-style crop (seeded by r) — the "real" draw — and an
     independent second draw serves as the reference set for FID;
  2. each model generates one motion per (caption, length) of the real draw: DDIM over its denoiser (the model's
     config.diffusion steps and guidance, 50 and 7.5, unless given), VAE decoding at the real length;
  3. the evaluator embeds texts and motions; FID (against the reference), R-precision top-1/2/3 (batches of 32),
     MM-Dist, Diversity (300 pairs) and, for models, MultiModality (`mm_texts` captions × `mm_generations`
     generations, 10 pairs each) are computed, plus foot skate, floor penetration and jitter on the joints
     recovered from the features (metres, floor y = 0), as decoded and again (suffix _cleaned) after the foot
     cleanup that generation applies by default (`motion_core.motion.foot_cleanup`, on the features' own contact
     channels).
Rows: "real" (the test motions themselves; MultiModality is undefined there and reported as null), "motion_mamba"
(--weights), "baseline" (--baseline, e.g. the MLD denoiser trained on the same VAE, data and budget).
"""

import json
import time
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from motion_core import metrics
from motion_core.data.dataset import BatchSampler, MotionTextDataset
from motion_core.device import resolve_device
from motion_core.errors import MotionError
from motion_core.generator import MotionGenerator
from motion_core.models.evaluator import MotionTextEvaluator
from motion_core.models.feature_joints import features_to_joints
from motion_core.models.weights_file import model_folder
from motion_core.motion.action_check import check_motion
from motion_core.motion.action_prompt import expectation_for
from motion_core.motion.jitter import clean_generated

PHYSICAL_NAMES = ("foot_skate", "penetration", "jitter")
CLEANED_NAMES = tuple(f"{name}_cleaned" for name in PHYSICAL_NAMES)  # the same after the foot cleanup
METRIC_NAMES = ("fid", "r_precision_top1", "r_precision_top2", "r_precision_top3", "mm_dist", "diversity",
                "multimodality") + PHYSICAL_NAMES + CLEANED_NAMES


def load_generator(path):
    """A generator without its text encoder: evaluation reads caption embeddings from the corpus cache."""
    generator = MotionGenerator.from_pretrained(path, with_text_encoder=False)
    generator.cpu_loop_threads = None  # batches of hundreds of motions: on a CPU, every thread helps
    return generator


@torch.no_grad()
def sample_features(generator, text, lengths, unconditional, seed, steps=None, guidance=None, batch_size=512,
                    device="cpu"):
    """Generate one motion per row: text (N, text_dim) caption embeddings, lengths (N,) frames.

    Sampling is the generator's own loop (`MotionGenerator.sample_embeddings`; steps and guidance default to the
    model's config). Returns de-normalised features (N, max(lengths), 263) float32 on `device`, zero past each
    length. Initial noise comes from a CPU generator seeded by `seed`, batch by batch, so results do not depend on
    the device.
    """
    generator.to(device)
    vae, device = generator.vae, generator.device
    scale = generator.config.diffusion.latent_scale
    guided = generator.sampler_settings(steps, guidance)[1] != 0
    noise_source = torch.Generator().manual_seed(int(seed))
    frames = int(lengths.max())
    out = torch.zeros(len(text), frames, vae.config.nfeats, device=device)
    uncond = unconditional.to(device).reshape(1, -1)
    # Rows of one latent shape share a batch (a temporal latent's token count follows the length).
    tokens = np.array([vae.latent_shape(int(n))[0] for n in lengths])
    order = np.argsort(tokens, kind="stable")
    batches = [group[i:i + batch_size] for group in np.split(order, np.flatnonzero(np.diff(tokens[order])) + 1)
               for i in range(0, len(group), batch_size)]
    for rows in batches:
        rows_t = torch.from_numpy(rows)  # each tensor is indexed on its own device (text may sit on the GPU)
        cond = text[rows_t.to(text.device)].to(device)
        count = len(cond)
        batch_lengths = lengths[rows_t.to(lengths.device)].to(device)
        latent_shape = vae.latent_shape(int(batch_lengths.max()))
        x = torch.randn((count, *latent_shape), generator=noise_source)
        both = torch.cat([uncond.expand(count, -1), cond]) if guided else cond  # [uncond; cond], as generation
        x = generator.sample_embeddings(both, x, steps, guidance, graphs=False)
        decoded = vae.decode(x / scale, batch_lengths, frames=frames)  # normalised by the VAE's statistics
        mask = torch.arange(frames, device=device)[None, :] < batch_lengths[:, None]
        out[rows_t.to(device)] = vae.denormalize(decoded) * mask[..., None]
    return out


class Draw:
    """One random caption + crop per segment: segment ids, offsets, lengths, caption rows (all (N,) int)."""

    def __init__(self, segments, captions, offsets, lengths):
        self.segments, self.captions, self.offsets, self.lengths = segments, captions, offsets, lengths

    @classmethod
    def random(cls, dataset, rng):
        segments = np.arange(len(dataset))
        captions = dataset.pick_captions(rng, segments)
        offsets, lengths = dataset.crop(rng, segments)
        return cls(segments, captions, offsets, lengths)

    def take(self, rows):
        """The draw restricted to (or repeating) `rows`, an int array."""
        return Draw(self.segments[rows], self.captions[rows], self.offsets[rows], self.lengths[rows])


class Evaluation:
    """Holds the test data, the evaluator and per-repeat draws; `row(...)` computes one table row."""

    def __init__(self, dataset, evaluator, device, r_batch=32, diversity_pairs=300, mm_texts=100,
                 mm_generations=30, mm_pairs=10, seed=0):
        self.dataset, self.evaluator, self.device = dataset, evaluator.to(device).eval(), device
        self.sampler = BatchSampler(dataset, 1, device)  # used for gather() only
        self.mean = torch.from_numpy(dataset.mean).to(device)
        self.std = torch.from_numpy(dataset.std).to(device)
        self.text = torch.from_numpy(dataset.captions.embeddings).to(device)
        self.unconditional = torch.from_numpy(dataset.captions.lookup([""])[0])
        self.r_batch, self.mm_texts, self.mm_generations, self.mm_pairs = r_batch, mm_texts, mm_generations, mm_pairs
        self.diversity_pairs = min(diversity_pairs, len(dataset))
        self.seed = seed

    def draws(self, repeat):
        rng = np.random.default_rng([self.seed, repeat])
        return Draw.random(self.dataset, rng), Draw.random(self.dataset, rng)  # (evaluated, FID reference)

    @torch.no_grad()
    def embed_motions(self, features, lengths, chunk=512):
        """De-normalised features (N, T, D) + lengths (N,) -> evaluator embeddings (N, E) as float64 numpy."""
        rows = []
        for first in range(0, len(features), chunk):
            part = features[first:first + chunk].to(self.device)
            n = lengths[first:first + chunk].to(self.device)
            frames = int(n.max())
            mask = torch.arange(frames, device=self.device)[None, :] < n[:, None]
            normalised = (part[:, :frames] - self.mean) / self.std * mask[..., None]
            rows.append(self.evaluator.encode_motion(normalised, mask).double().cpu())
        return torch.cat(rows).numpy()

    @torch.no_grad()
    def embed_texts(self, caption_rows):
        rows = torch.as_tensor(caption_rows, device=self.device)
        return self.evaluator.encode_text(self.text[rows]).double().cpu().numpy()

    def real_features(self, draw):
        """De-normalised real crops of a draw: (N, T, D) on the device, lengths (N,)."""
        batch = self.sampler.gather(draw.segments, draw.offsets, draw.lengths, draw.captions)
        return (batch["motion"] * self.std + self.mean) * batch["mask"][..., None], batch["lengths"]

    def generate(self, model, draw, seed, steps, guidance, batch_size):
        """De-normalised features (N, T, D) of `model` for a draw's captions and lengths.

        model: a MotionGenerator, or any callable (evaluation, draw, seed) -> features (tests use an oracle)."""
        if not hasattr(model, "denoiser"):
            return model(self, draw, seed)
        text = self.text[torch.from_numpy(draw.captions).to(self.device)]
        return sample_features(model, text, torch.from_numpy(draw.lengths), self.unconditional, seed, steps,
                               guidance, batch_size, self.device)

    def physical(self, features, lengths):
        """Physical metrics of the joints as decoded and, suffixed _cleaned, after the post-processing generation
        applies (the foot cleanup, then the jitter low-pass)."""
        joints = features_to_joints(features.float()).cpu().numpy()  # (N, T, 22, 3)
        contacts = features[..., -4:].float().cpu().numpy()  # (N, T, 4) the foot-contact channels
        clips = [joints[i, :int(n)] for i, n in enumerate(lengths.cpu())]
        cleaned = [clean_generated(clip, contacts[i, :len(clip)]) for i, clip in enumerate(clips)]
        values = metrics.physical_metrics(clips, fps=self.dataset.fps)
        values.update({f"{name}_cleaned": value
                       for name, value in metrics.physical_metrics(cleaned, fps=self.dataset.fps).items()})
        return values

    def scores(self, repeat, features, lengths, draw, reference, grouped=None):
        """All metrics of one repeat for motions `features` generated (or taken) for `draw`'s captions."""
        rng = np.random.default_rng([self.seed, repeat, 7])
        motion = self.embed_motions(features, lengths)
        text = self.embed_texts(draw.captions)
        ref_features, ref_lengths = self.real_features(reference)
        top = metrics.r_precision(text, motion, top_k=3, batch_size=self.r_batch, rng=rng)
        values = {
            "fid": metrics.fid(motion, self.embed_motions(ref_features, ref_lengths)),
            "r_precision_top1": top[0], "r_precision_top2": top[1], "r_precision_top3": top[2],
            "mm_dist": metrics.matching_distance(text, motion),
            "diversity": metrics.diversity(motion, self.diversity_pairs, rng),
            "multimodality": None if grouped is None else metrics.multimodality(grouped, self.mm_pairs, rng),
        }
        values.update(self.physical(features, lengths))
        return values


def _summarise(per_repeat):
    row = {}
    for name in METRIC_NAMES:
        values = [r[name] for r in per_repeat]
        row[name] = {"mean": None, "ci95": None} if any(v is None for v in values) else metrics.mean_ci95(values)
    return row


def evaluate(weights=None, data=None, baseline=None, evaluator=None, split="test", repeats=20, mm_texts=100,
             mm_generations=30, steps=None, guidance=None, batch_size=512, device="auto", seed=0, cache_path=None,
             allow_missing_captions=False, progress=True, r_batch=32, diversity_pairs=300, generators=None,
             max_minutes=None, partial_path=None, sampler=None):
    """Evaluate the real test motions and up to two models; returns {"rows": {...}, "protocol": {...}}.

    weights / baseline: generator folders (config.json + vae/denoiser safetensors); generators: optionally
    {row name: MotionGenerator} instead (tests). steps, guidance: None takes each model's config.diffusion values. evaluator: a folder with evaluator.safetensors (default: weights).
    max_minutes: stop starting new repeats after this long (at least 2 repeats run); the protocol records how many
    repeats the intervals are over. partial_path: rewrite the result there after every repeat. sampler: "ddim" or
    "dpmpp_2m" for every model (None: each generator's own, DDIM unless changed).
    """
    started = time.time()
    device = resolve_device(device)
    if data is None:
        raise MotionError("evaluation needs --data, a HumanML3D-layout folder with a test split")
    models = dict(generators or {})
    if weights is not None:
        models["motion_mamba"] = load_generator(weights)
    if baseline is not None:
        models["baseline"] = load_generator(baseline)
    if sampler is not None:
        for model in models.values():
            model.sampler = sampler
    evaluator_dir = evaluator or weights
    if evaluator_dir is None:
        raise MotionError("no evaluator: pass --evaluator DIR (a `motion-mamba train evaluator` run's model/ folder)")
    evaluator_model = MotionTextEvaluator.from_pretrained(model_folder(evaluator_dir), device)
    dataset = MotionTextDataset(data, split, cache_path=cache_path, allow_missing_captions=allow_missing_captions)
    if len(dataset) < r_batch:
        raise MotionError(f"the {split} split has {len(dataset)} captioned clips; R-precision needs at least {r_batch}")
    if repeats < 1:
        raise MotionError(f"--repeats must be at least 1, got {repeats}")
    mm_texts = min(mm_texts, len(dataset))
    run = Evaluation(dataset, evaluator_model, device, r_batch=r_batch, diversity_pairs=diversity_pairs,
                     mm_texts=mm_texts, mm_generations=mm_generations, seed=seed)

    per_repeat = {"real": [], **{name: [] for name in models}}
    bar = None
    if progress:
        bar = tqdm(total=repeats * (1 + len(models)), desc="evaluate", unit="row", dynamic_ncols=True)

    # The VAE round trip of each model (encode -> decode the test clips): how much of the motion its latent keeps.
    round_trips = {name: vae_round_trip(model.vae, dataset, device, action_check=corpus_action_check(dataset))
                   for name, model in models.items() if hasattr(model, "vae")}

    def assemble():
        return {
            "rows": {name: _summarise(values) for name, values in per_repeat.items()},
            "vae_round_trip": round_trips,
            "protocol": {
                "data": str(data), "split": split, "clips": len(dataset), "hours": round(dataset.hours, 4),
                "repeats": done, "repeats_asked": repeats, "r_precision_batch": r_batch,
                "diversity_pairs": run.diversity_pairs,
                "mm_texts": mm_texts if mm_generations >= 2 else 0, "mm_generations": mm_generations,
                "mm_pairs": run.mm_pairs, "ddim_steps": _sampler_setting(models, 0, steps),
                "sampler": _shared({getattr(m, "sampler", None) for m in models.values()}),
                "guidance": _sampler_setting(models, 1, guidance),
                "evaluator": str(evaluator_dir), "device": str(device), "seed": seed,
                "ci": "1.96 * std / sqrt(repeats)",
                "physical": {"floor_y": 0.0, "contact_height_m": metrics.CONTACT_HEIGHT,
                             "skate_speed_m_s": metrics.SKATE_SPEED, "jitter": "mean |d3x/dt3|, m/s^3"},
            },
            "elapsed_s": round(time.time() - started, 1),
        }

    done = 0
    for repeat in range(repeats):
        if max_minutes and done >= 2 and time.time() - started > max_minutes * 60.0:
            break
        done += 1
        draw, reference = run.draws(repeat)
        real, real_lengths = run.real_features(draw)
        per_repeat["real"].append(run.scores(repeat, real, real_lengths, draw, reference))
        if bar is not None:
            bar.update(1)
        lengths = torch.from_numpy(draw.lengths)
        mm_rng = np.random.default_rng([seed, repeat, 11])
        mm_draw = draw.take(np.repeat(mm_rng.choice(len(dataset), mm_texts, replace=False), mm_generations))
        for index, (name, model) in enumerate(models.items()):
            noise_seed = seed * 1_000_003 + repeat * 101 + index
            features = run.generate(model, draw, noise_seed, steps, guidance, batch_size)
            grouped = None
            if mm_generations >= 2:
                mm_features = run.generate(model, mm_draw, noise_seed + 50, steps, guidance, batch_size)
                grouped = run.embed_motions(mm_features, torch.from_numpy(mm_draw.lengths))
                grouped = grouped.reshape(mm_texts, mm_generations, -1)
            per_repeat[name].append(run.scores(repeat, features, lengths, draw, reference, grouped))
            if bar is not None:
                bar.update(1)
        if partial_path:  # a cut-short run still leaves the repeats it finished
            write_json(assemble(), partial_path)
    if bar is not None:
        bar.close()
    return assemble()


def _shared(values):
    """The one value of a set, or None when the models differ."""
    return values.pop() if len(values) == 1 else None


def _sampler_setting(models, index, value):
    """A sampler setting (0: steps, 1: guidance) as asked or, when None, the models' config default if they share
    one (None if they differ)."""
    if value is not None:
        return value
    return _shared({model.sampler_settings()[index] for model in models.values() if hasattr(model, "sampler_settings")})


def format_table(result):
    """The rows as a plain-text table: value ± interval per metric."""
    names = list(result["rows"])
    header = f"{'metric':<18}" + "".join(f"{n:>24}" for n in names)
    lines = [header, "-" * len(header)]
    for metric in METRIC_NAMES:
        cells = []
        for name in names:
            cell = result["rows"][name][metric]
            cells.append("-" if cell["mean"] is None else f"{cell['mean']:.4f} ± {cell['ci95']:.4f}")
        lines.append(f"{metric:<18}" + "".join(f"{c:>24}" for c in cells))
    return "\n".join(lines)


def write_json(result, path):
    Path(path).write_text(json.dumps(result, indent=2) + "\n")


# ------------------------------------------------------------------------------------------------ VAE round trip


def corpus_action_check(dataset):
    """action_check(joints, row) for vae_round_trip: the action check of the first caption of segment `row` that
    names an action (None when none does)."""
    def expectation(row):
        for caption in dataset.segment_captions[row]:
            found = expectation_for(dataset.captions.captions[caption])
            if found.segments:
                return found
        return None

    def check(joints, row):
        found = expectation(row)
        return None if found is None else check_motion(joints, found, fps=dataset.fps).passed

    def label(row):  # what vae_round_trip groups its per-kind counts by
        found = expectation(row)
        return "none" if found is None else found.label

    check.label = label
    return check


@torch.no_grad()
def vae_round_trip(vae, dataset, device="cpu", batch_size=64, action_check=None):
    """Encode (posterior mean) and decode every segment of `dataset` (its first max_frames frames) and compare.

    Returns a dict: clips; joint_error_cm (mean root-relative joint position error); root_error_cm (mean root
    position error) and root_drift_cm_per_s (root error at the last frame / clip duration, mean over clips);
    foot_skate of originals and reconstructions and their ratio; and, with `action_check(joints, row) -> bool or None`
    (e.g. `corpus_action_check(dataset)`), action_kept = the share of clips whose check passes on the reconstruction
    among those where it passes on the original, and, when the check has a `label(row)` (corpus_action_check's
    does), action_kept_by_kind = {kind: [kept, checked]}.
    """
    vae = vae.to(device).eval()
    mean = torch.from_numpy(dataset.mean).to(device)
    std = torch.from_numpy(dataset.std).to(device)
    lengths = np.minimum(dataset.segment_length, vae.config.max_frames)
    order = np.argsort(lengths, kind="stable")
    joint_err, root_err, drift, skate_true, skate_rec, kept, passed, by_kind = [], [], [], [], [], 0, 0, {}
    for first in range(0, len(order), batch_size):
        rows = order[first:first + batch_size]
        frames = int(lengths[rows].max())
        x = torch.zeros(len(rows), frames, dataset.feature_dim)
        for i, row in enumerate(rows):
            start = dataset.segment_start[row]
            x[i, :lengths[row]] = torch.from_numpy(dataset.features[start:start + lengths[row]])
        x = x.to(device)
        n = torch.from_numpy(lengths[rows].astype(np.int64)).to(device)
        # the VAE normalises with its own statistics: map the dataset's normalisation onto the VAE's
        features = x * std + mean
        _, mu, _ = vae.encode(vae.normalize(features), n, sample=False)
        recon = vae.denormalize(vae.decode(mu, n, frames=frames))
        true_j = features_to_joints(features).cpu().numpy()
        rec_j = features_to_joints(recon).cpu().numpy()
        for i, row in enumerate(rows):
            T = int(lengths[row])
            a, b = true_j[i, :T], rec_j[i, :T]
            rel = (a - a[:, :1]) - (b - b[:, :1])
            joint_err.append(np.linalg.norm(rel, axis=-1).mean())
            root = np.linalg.norm(a[:, 0] - b[:, 0], axis=-1)
            root_err.append(root.mean())
            drift.append(root[-1] / (T / dataset.fps))
            skate_true.append(metrics.foot_skate_ratio(a, dataset.fps))
            skate_rec.append(metrics.foot_skate_ratio(b, dataset.fps))
            if action_check is not None and action_check(a, row):
                passed += 1
                still = bool(action_check(b, row))
                kept += still
                if hasattr(action_check, "label"):
                    counts = by_kind.setdefault(action_check.label(row), [0, 0])
                    counts[0] += still
                    counts[1] += 1
    result = {
        "clips": len(order),
        "joint_error_cm": float(np.mean(joint_err) * 100),
        "root_error_cm": float(np.mean(root_err) * 100),
        "root_drift_cm_per_s": float(np.mean(drift) * 100),
        "foot_skate_original": float(np.mean(skate_true)),
        "foot_skate_reconstruction": float(np.mean(skate_rec)),
    }
    result["foot_skate_ratio"] = result["foot_skate_reconstruction"] / max(result["foot_skate_original"], 1e-9)
    if action_check is not None:
        result["action_checked"] = passed
        result["action_kept"] = kept / passed if passed else None
        if by_kind:  # {kind: [kept, checked]}, worst first: which actions the latent loses
            result["action_kept_by_kind"] = dict(sorted(by_kind.items(), key=lambda item: item[1][0] / item[1][1]))
    return result
