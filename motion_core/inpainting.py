"""Latent inpainting over the temporal latent: timelines of any length, span edits and continuations.

The three are one procedure on the motion's latent tokens (ceil(T/4) x C, `models/conv_vae.py`):
  1. Tokens the result must keep are *given*: encoded from the user's motion (the VAE's mean, scaled like every
     diffusion latent). The others are sampled window by window (`motion.timeline.plan_windows`): at most
     `latent_size` tokens each, starting with up to OVERLAP_TOKENS of context that is already final.
  2. Inside a window DDIM runs as usual, except that before every step the known tokens are replaced by the known
     latents noised to that step (DDPM eq. 4, the replacement step of diffusion inpainting, e.g. RePaint):
         x_t[known] = sqrt(alpha_bar_t) z_known + sqrt(1 - alpha_bar_t) noise[known]
     The noise is the sequence's own seeded noise, so a token reads the same noise in every window that holds it.
     After the last step the known tokens are z_known exactly.
  On CUDA (`use_cuda_graphs`) each window's whole loop replays as one CUDA graph per (variations, window length,
     guided, steps); progress and cancel then act between windows.
  3. The whole latent sequence decodes at once (the conv VAE is length-free), so no seam is left to the decoder.
     A timeline's joints then get a light low-pass within 10 frames of each seam (`motion.seam_smoothing`): the
     next action starts right at the seam, and that leaves a jerk there, not a step.
  4. Edits and continuations splice the decoded frames back into the user's motion (`motion.splice`): positions
     equal at the boundary frames, velocities continuous.
Cost is linear in length: every token is denoised once, plus the window overlaps (49 / (49 - 10) = 1.26x).

Parallel windows (the default, `MotionGenerator.timeline_windows`): instead of window after window, every window
is denoised at every step, the windows' noise predictions are averaged per token with weights that taper linearly
across each overlap (`timeline.blend_weights`), and one sampler step moves the whole sequence. Each segment's window
reaches PARALLEL_MARGIN_TOKENS past both its ends (`timeline.plan_parallel_windows`), so the blend is centred on the
seam, and a 5-s segment costs 25 + 8 tokens. Windows of one length go through the denoiser as one
batch (on CPU CPU_BATCH_ROWS rows a call, its cache-friendly size). Tokens that fit one window (edits, takes up to
9.8 s) sample exactly as before; known tokens (continuations) are replaced before every step as in 2.
Why the denoiser is not simply run over the whole timeline: it is not length-free. Its learned positions cover
latent_size + 2 tokens, and BSM scans the channels with the token slots as features, so a call sees at most 49
tokens, conditioned by one text token.
"""

import math
import secrets
import time

import numpy as np
import torch

from motion_core.cuda_graphs import capture
from motion_core.diffusion import guided_eps
from motion_core.errors import MotionError
from motion_core.generator import GenerationCancelled, _cpu_threads, validate_settings
from motion_core.motion.clip import Motion
from motion_core.motion.features import joints_to_features
from motion_core.motion.jitter import clean_generated
from motion_core.motion.seam_smoothing import smooth_seams
from motion_core.motion.splice import (CONTINUE_CONTEXT_FRAMES, check_span, edit_window, splice_after,
                                      splice_between)
from motion_core.motion.timeline import (blend_weights, check_segments, plan_parallel_windows, plan_windows,
                                        segment_bounds, token_owners)

OVERLAP_TOKENS = 10  # context per window: 2 s at 20 fps, about one action's worth of lead-in
WINDOW_MODES = ("parallel", "sequential")
# Parallel windows reach this far past their segment's ends: 2 x 4 tokens (1.6 s) blended across each seam. The
# seams' jerk is taken off after decoding (`motion.seam_smoothing`), so the margin is chosen for the actions: the blend
# lets the next prompt start its action before the seam (a jump's take-off in the walk before it, so the walk check
# sees flight; jumping jacks' take-off at the end of a squat, so the squat check reads the dip as a jump's crouch).
# The 10:19 UTC default, seeds 0-7, DDIM 50, with the seam low-pass at sigma 1 frame: margin 5 -> seams median 0.47, 8 of 8 passing,
# actions 41 of 48 segments; 4 -> 0.59, 8 of 8, 47 of 48 (seeds 8-15: 0.49, 8 of 8, 46 of 48); 3 -> 0.63, 7 of 8,
# 47 of 48. Without it: 3 -> 1.49, 4 -> 1.41, 5 -> 1.27, 6 -> 1.19, 7 -> 1.65 (2-4 of 8): the seeds spread more than
# the margins. 4 costs 33 tokens a 25-token segment, fewer than sequential windows (35).
PARALLEL_MARGIN_TOKENS = 4
CPU_BATCH_ROWS = 8  # denoiser rows per call on CPU (4 guided windows): the 2-core EPYC's fastest per token


def _require_temporal(gen):
    if not gen.temporal_latent:
        raise MotionError(f"the model {gen.config.name} has a fixed-size latent; timelines, span edits and "
                          "continuations need a model with a temporal latent (vae arch 'conv')")


def _check_joints(joints, what, min_frames):
    joints = np.asarray(joints, dtype=np.float64)
    if joints.ndim != 3 or joints.shape[1:] != (22, 3):
        raise MotionError(f"{what} must be joints of shape (frames, 22, 3), got {joints.shape}")
    if len(joints) < min_frames:
        raise MotionError(f"{what} needs at least {min_frames} frames, got {len(joints)}")
    if not np.isfinite(joints).all():
        raise MotionError(f"{what} contains NaN or infinite positions")
    return joints


def encode_motion(gen, joints):
    """joints (T, 22, 3), T >= 2, at the model's fps -> diffusion latents (1, ceil(T / 4), C) on gen.device."""
    features = joints_to_features(joints)  # (T-1, 263): the last frame has no velocity of its own ...
    features = np.concatenate([features, features[-1:]])  # ... so it repeats its predecessor's
    x = gen.vae.normalize(torch.from_numpy(features).to(gen.device)[None])
    _, mu, _ = gen.vae.encode(x, torch.tensor([len(features)], device=gen.device), sample=False)
    return mu * gen.config.diffusion.latent_scale


def _step_counter(total, progress, cancel):
    """tick(count=1) for a sampling loop of `total` denoiser steps: reports progress(done, total) and raises
    GenerationCancelled when `cancel()` says so (checked now, and after every tick but the last)."""
    if cancel is not None and cancel():
        raise GenerationCancelled()
    done = 0

    def tick(count=1):
        nonlocal done
        done += count
        if progress is not None:
            progress(done, total)
        if cancel is not None and done < total and cancel():
            raise GenerationCancelled()

    return tick


def _inpaint_window(gen, z, known, noise, text_tok, steps, guidance, tick):
    """DDIM over one window. z, noise: (V, n, C); known: (1, n, 1) bool; text_tok: condition tokens."""
    time_tokens, scheduler = gen._time_tokens_for(steps)
    x = noise
    for i in range(steps):
        abar = float(scheduler.abar_t[i])
        x = torch.where(known, abar ** 0.5 * z + (1.0 - abar) ** 0.5 * noise, x)
        x = gen._denoise(x, text_tok, time_tokens, scheduler, guidance, i, i + 1)
        tick()
    return torch.where(known, z, x)


class _WindowGraph:
    """`_inpaint_window` for one (variations, tokens, guided, steps) key as a CUDA graph. Static inputs: the window's
    latents, known mask, noise, text embeddings and guidance scale, copied in before each replay."""

    def __init__(self, gen, variations, tokens, guided, steps):
        c, device = gen.config, gen.device
        shape = (variations, tokens, c.vae.latent_dim)
        self.z, self.noise, self.out = (torch.zeros(shape, device=device) for _ in range(3))
        self.known = torch.zeros((1, tokens, 1), dtype=torch.bool, device=device)
        self.text_emb = torch.zeros((2 * variations if guided else variations, c.text.dim), device=device)
        self.guidance = torch.zeros((), device=device)
        with torch.inference_mode():
            self.graph, _ = capture(device, lambda: self._body(gen, steps))

    def _body(self, gen, steps):
        text_tok = gen.denoiser.cond.text_token(self.text_emb)
        self.out.copy_(_inpaint_window(gen, self.z, self.known, self.noise, text_tok, steps, self.guidance,
                                       lambda: None))

    def run(self, z, known, noise, text_emb, guidance):
        self.z.copy_(z)
        self.known.copy_(known)
        self.noise.copy_(noise)
        self.text_emb.copy_(text_emb)
        self.guidance.fill_(guidance)
        self.graph.replay()
        return self.out


def _parallel_chunks(windows, rows_per_window, max_rows):
    """Window indices grouped by length (one batched call needs one length), each group cut to <= max_rows rows."""
    by_length = {}
    for k, w in enumerate(windows):
        by_length.setdefault(w.stop - w.start, []).append(k)
    per_call = max(1, (max_rows or 1 << 30) // rows_per_window)
    return [group[i:i + per_call] for group in by_length.values() for i in range(0, len(group), per_call)]


def _sample_parallel(gen, z, known, windows, text_embs, noise, steps, guidance, tick, max_rows):
    """All windows denoised together: at each step every window predicts noise for its tokens, the predictions are
    averaged per token with `blend_weights`, and one sampler step moves the whole sequence. z, noise: (V, L, C);
    known: (1, L, 1) bool. Both samplers' steps are linear in eps at a fixed x_t, so averaging eps averages the
    windows' x_{t-1}: the same sequence state whichever sampler runs. One window is exactly `_inpaint_window`."""
    V, L, C = noise.shape
    device = noise.device
    time_tokens, scheduler = gen._time_tokens_for(steps)
    guided = guidance != 0
    weights, total = blend_weights(windows, L)
    inverse = torch.tensor(1.0 / np.maximum(total, 1e-12), dtype=noise.dtype, device=device)[None, :, None]
    calls = []  # (token index (k * n,), weights (1, k * n, 1), text tokens (rows, 1, d)) per batched call
    for chunk in _parallel_chunks(windows, 2 * V if guided else V, max_rows):
        index = torch.cat([torch.arange(windows[k].start, windows[k].stop) for k in chunk]).to(device)
        weight = torch.tensor(np.concatenate([weights[k] for k in chunk]), dtype=noise.dtype, device=device)
        if guided:  # rows [uncond of every window; cond of every window], the order guided_eps splits
            rows = [text_embs[windows[k].segment] for k in chunk]
            emb = torch.cat([r[:V] for r in rows] + [r[V:] for r in rows])
        else:
            emb = torch.cat([text_embs[windows[k].segment] for k in chunk])
        calls.append((index, len(chunk), weight[None, :, None], gen.denoiser.cond.text_token(emb)))
    denoiser = gen._denoiser_call or gen.denoiser.forward_tokens
    x = noise
    for i in range(steps):
        abar = float(scheduler.abar_t[i])
        x = torch.where(known, abar ** 0.5 * z + (1.0 - abar) ** 0.5 * noise, x)
        eps = torch.zeros_like(x)
        for index, k, weight, text_tok in calls:
            n = len(index) // k
            xw = x[:, index].reshape(V, k, n, C).transpose(0, 1).reshape(k * V, n, C)  # window-major rows
            rows = text_tok.shape[0]
            e = denoiser(torch.cat([xw, xw]) if guided else xw, time_tokens[i].expand(rows, -1, -1), text_tok)
            e = guided_eps(e, guidance) if guided else e  # (k V, n, C)
            eps.index_add_(1, index, e.reshape(k, V, n, C).transpose(0, 1).reshape(V, k * n, C) * weight)
        x = scheduler.step(eps * inverse, i, x)
        tick()
    return torch.where(known, z, x)


def _sample_tokens_parallel(gen, latents, known, windows, prompts, noise, steps, guidance, progress, cancel):
    """`sample_tokens` with parallel windows: progress counts `steps`, cancel is polled between steps. Runs eagerly
    on CUDA too (one batched call per window length per step, instead of one graph replay per window)."""
    V = latents.shape[0]
    text_embs = [gen.text_embeddings(p, guidance, V) for p in prompts]
    known_t = torch.tensor(np.asarray(known, dtype=bool), device=gen.device)[None, :, None]
    tick = _step_counter(steps, progress, cancel)
    max_rows = CPU_BATCH_ROWS if gen.device.type == "cpu" else None
    with _cpu_threads(gen.device, gen.cpu_loop_threads):
        return _sample_parallel(gen, latents, known_t, windows, text_embs, noise, steps, float(guidance), tick,
                                max_rows)


def plan(gen, owners, known, windows_mode=None):
    """(parallel?, windows) `sample_tokens` uses: parallel windows when the mode (None: `gen.timeline_windows`) says
    so and the tokens need more than one window; what fits one window (edits, short takes) runs as it always did."""
    windows_mode = windows_mode or gen.timeline_windows
    if windows_mode not in WINDOW_MODES:
        raise ValueError(f"windows_mode must be one of {WINDOW_MODES}, got {windows_mode!r}")
    windows = plan_windows(owners, known, gen.config.vae.latent_size, OVERLAP_TOKENS)
    if windows_mode == "parallel" and len(windows) > 1:
        return True, plan_parallel_windows(owners, known, gen.config.vae.latent_size, PARALLEL_MARGIN_TOKENS)
    return False, windows


def sample_tokens(gen, latents, known, owners, prompts, noise, steps, guidance, progress=None, cancel=None,
                  windows_mode=None):
    """Fill the unknown tokens of `latents`; returns the completed latents (V, L, C).

    latents: (V, L, C) diffusion latents (values at unknown tokens are ignored); known: (L,) bool; owners: (L,) int
    index into `prompts` per token; noise: (V, L, C). progress(step, total) counts denoising steps.
    windows_mode: "parallel" (all windows at each step, predictions blended across overlaps; `gen.timeline_windows`
    when None) or "sequential" (window after window, each inpainting the final tokens of the one before).
    """
    V = latents.shape[0]
    parallel, windows = plan(gen, owners, known, windows_mode)
    if parallel:
        return _sample_tokens_parallel(gen, latents, known, windows, prompts, noise, steps, guidance, progress,
                                       cancel)
    text_embs = [gen.text_embeddings(p, guidance, V) for p in prompts]
    x = latents.clone()
    done = torch.tensor(np.asarray(known, dtype=bool), device=gen.device)  # a copy: `known` stays as given

    tick = _step_counter(len(windows) * steps, progress, cancel)
    with _cpu_threads(gen.device, gen.cpu_loop_threads):
        for w in windows:
            span = slice(w.start, w.stop)
            if gen._graphs_active():
                key = ("window", V, w.stop - w.start, guidance != 0, steps)
                if key not in gen._graphs:
                    gen._graphs[key] = _WindowGraph(gen, V, w.stop - w.start, guidance != 0, steps)
                x[:, span] = gen._graphs[key].run(x[:, span], done[span][None, :, None], noise[:, span],
                                                  text_embs[w.segment], float(guidance))
                tick(steps)
            else:
                text_tok = gen.denoiser.cond.text_token(text_embs[w.segment])
                x[:, span] = _inpaint_window(gen, x[:, span], done[span][None, :, None], noise[:, span], text_tok,
                                             steps, float(guidance), tick)
            done[span] = True
    return x


def _prepare(gen, seed, steps, guidance, variations, device):
    _require_temporal(gen)
    validate_settings(seed, steps, guidance, variations)
    gen.to(device)
    return int(secrets.randbelow(2 ** 31) if seed is None else seed)


def _noise(gen, seed, variations, tokens):
    shape = (variations, tokens, gen.config.vae.latent_dim)
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed)).to(gen.device)


def _decode(gen, latents, frames, foot_cleanup):
    """Latents (V, L, C) -> joints (V, frames, 22, 3) float64 and features (V, frames, 263) on the host."""
    lengths = torch.full((latents.shape[0],), frames, dtype=torch.long, device=gen.device)
    joints, features = gen._decode(latents, lengths, frames)
    joints = joints[:, :frames].double().cpu().numpy()
    features = features[:, :frames].float().cpu().numpy()
    if foot_cleanup:  # as generate: feet pinned, then the tremor off
        joints = clean_generated(joints, features[..., -4:])
    return joints, features


def generate_sequence(gen, segments, seed=None, steps=None, guidance=None, variations=1, device="auto",
                      progress=None, cancel=None, foot_cleanup=True, start=None, sampler=None):
    """`MotionGenerator.generate_sequence`: see its docstring."""
    with gen._using_sampler(sampler):
        return _generate_sequence(gen, segments, seed, steps, guidance, variations, device, progress, cancel,
                                  foot_cleanup, start)


def _generate_sequence(gen, segments, seed, steps, guidance, variations, device, progress, cancel, foot_cleanup,
                       start):
    steps, guidance = gen.sampler_settings(steps, guidance)
    segments = check_segments(segments)
    seed = _prepare(gen, seed, steps, guidance, variations, device)
    fps, factor = gen.config.fps, gen.config.vae.down_factor
    bounds = segment_bounds(segments, fps)  # frames of the result
    context = None
    if start is not None:
        start = np.asarray(start)
        context = _check_joints(start[None] if start.ndim == 2 else start, "the start motion", 1)
        context = context[-CONTINUE_CONTEXT_FRAMES:]
        if len(context) == 1:
            context = np.repeat(context, 2, axis=0)  # a still pose: standing there one frame before
    lead = 0 if context is None else len(context) - 1  # frames before the result's frame 0 (= the current pose)
    frames = lead + int(bounds[-1])
    owners = token_owners(np.concatenate([[0], bounds[1:] + lead]), factor)
    tokens = len(owners)
    started = time.perf_counter()
    with torch.inference_mode():
        latents = torch.zeros((variations, tokens, gen.config.vae.latent_dim), device=gen.device)
        known = np.zeros(tokens, dtype=bool)
        if context is not None:
            given = len(context) // factor  # tokens whose frames all lie in the given motion
            latents[:, :given] = encode_motion(gen, context)[:, :given]
            known[:given] = True
        latents = sample_tokens(gen, latents, known, owners, [s.prompt for s in segments],
                                _noise(gen, seed, variations, tokens), steps, guidance, progress, cancel)
        joints, features = _decode(gen, latents, frames, foot_cleanup)
    seams = bounds[1:-1] + lead  # after the foot cleanup, whose pins would put the jerk back (seam_smoothing)
    joints = np.stack([smooth_seams(j, seams) for j in joints])
    if context is not None:
        joints = np.stack([splice_after(context, j) for j in joints])
        features = features[:, lead:]
    spans = [(s.prompt, int(a), int(b)) for s, a, b in zip(segments, bounds[:-1], bounds[1:])]
    info = {"steps": int(steps), "guidance": float(guidance), "device": str(gen.device),
            "elapsed_s": time.perf_counter() - started, "model": gen.config.name,
            "denoiser": gen.config.denoiser_kind, "cuda_graph": gen._graphs_active(),
            "foot_cleanup": bool(foot_cleanup),
            "windows": len(plan(gen, owners, known)[1]),
            "windows_mode": gen.timeline_windows, "sampler": gen.sampler, "continued": context is not None}
    return Motion(joints=joints.astype(np.float32), fps=fps, prompt="; ".join(s.prompt for s in segments),
                  seed=seed, features=features, info=info, segments=spans)


def edit_span(gen, joints, first, last, prompt, seed=None, steps=None, guidance=None, variations=1, device="auto",
              progress=None, cancel=None, foot_cleanup=True):
    """`MotionGenerator.edit_span`: see its docstring."""
    steps, guidance = gen.sampler_settings(steps, guidance)
    joints = _check_joints(joints, "the motion to edit", 4)
    T = len(joints)
    check_span(T, first, last)
    if not isinstance(prompt, str) or not prompt.strip():
        raise MotionError("the prompt is empty: describe what happens in the edited span")
    seed = _prepare(gen, seed, steps, guidance, variations, device)
    factor = gen.config.vae.down_factor
    lo, hi = edit_window(T, first, last)
    clip, a, b = joints[lo:hi], first - lo, last - lo
    tokens = math.ceil(len(clip) / factor)
    known = np.ones(tokens, dtype=bool)
    known[(a + 1) // factor:(b - 1) // factor + 1] = False  # every token that holds a frame strictly inside
    started = time.perf_counter()
    with torch.inference_mode():
        latents = encode_motion(gen, clip).expand(variations, -1, -1)
        latents = sample_tokens(gen, latents, known, np.zeros(tokens, dtype=int), [prompt.strip()],
                                _noise(gen, seed, variations, tokens), steps, guidance, progress, cancel)
        generated, _ = _decode(gen, latents, len(clip), foot_cleanup)
    out = np.repeat(joints[None], variations, axis=0)
    for v in range(variations):
        out[v, lo:hi] = splice_between(clip, generated[v], a, b)
    info = {"steps": int(steps), "guidance": float(guidance), "device": str(gen.device),
            "elapsed_s": time.perf_counter() - started, "model": gen.config.name,
            "denoiser": gen.config.denoiser_kind, "cuda_graph": gen._graphs_active(),
            "foot_cleanup": bool(foot_cleanup), "span": [int(first), int(last)]}
    return Motion(joints=out.astype(np.float32), fps=gen.config.fps, prompt=prompt.strip(), seed=seed, info=info)
