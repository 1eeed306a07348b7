"""Timelines, span edits and continuations (motion_core.inpainting) on the tiny random temporal model.

What a random model can show: the procedure (windows, known tokens kept, context read, seeds, progress, cancel), the
boundary guarantees of the splice (the kept frames come back exactly, velocities meet to the model's own
acceleration), and that seams are no rougher than the inside of segments. Whether transitions look natural needs
trained weights (bench timeline --weights)."""

import numpy as np
import pytest
import torch

from motion_core import inpainting
from motion_core.errors import MotionError
from motion_core.generator import GenerationCancelled, MotionGenerator
from motion_core.models.config import ModelConfig
from motion_core.motion.timeline import seam_smoothness
from test_train import _FakeTextEncoder

SEGMENTS = [("a person walks forward", 4.0), ("a person jumps", 3.0), ("a person sits down", 5.5),
            ("a person waves", 4.0)]


@pytest.fixture(scope="module")
def gen():
    return MotionGenerator.random(ModelConfig.tiny_temporal(), seed=0, text_encoder=_FakeTextEncoder())


def test_sequence_shape_segments_and_seed(gen):
    steps = []
    motion = gen.generate_sequence(SEGMENTS, seed=4, steps=3, device="cpu", progress=lambda s, t: steps.append((s, t)))
    assert motion.joints.shape == (1, 330, 22, 3) and np.isfinite(motion.joints).all()
    assert motion.segments == [("a person walks forward", 0, 80), ("a person jumps", 80, 140),
                               ("a person sits down", 140, 250), ("a person waves", 250, 330)]
    assert motion.info["windows"] == 4 and motion.info["windows_mode"] == "parallel"
    assert steps == [(1, 3), (2, 3), (3, 3)]  # parallel windows: one step moves every window
    again = gen.generate_sequence(SEGMENTS, seed=4, steps=3, device="cpu")
    np.testing.assert_array_equal(again.joints, motion.joints)
    steps.clear()
    gen.timeline_windows = "sequential"
    try:
        gen.generate_sequence(SEGMENTS, seed=4, steps=3, device="cpu", progress=lambda s, t: steps.append((s, t)))
    finally:
        gen.timeline_windows = "parallel"
    assert steps[-1] == (12, 12) and len(steps) == 12  # window after window: steps x windows


def _one_step_by_hand(gen, z, noise, windows, text_embs, guidance):
    """Reference for one parallel step (steps=1): each window through the denoiser alone, its eps weighted by
    `blend_weights` into a per-token average written out token by token, then one DDIM step."""
    from motion_core.diffusion import guided_eps
    from motion_core.motion.timeline import blend_weights

    time_tokens, scheduler = gen._time_tokens_for(1)
    V, L, C = noise.shape
    weights, _ = blend_weights(windows, L)
    num, den = torch.zeros_like(noise), torch.zeros(L)
    for w, weight in zip(windows, weights):
        x = noise[:, w.start:w.stop]
        eps = guided_eps(gen.denoiser.forward_tokens(torch.cat([x, x]), time_tokens[0].expand(2 * V, -1, -1),
                                                     gen.denoiser.cond.text_token(text_embs[w.segment])), guidance)
        for j in range(w.stop - w.start):
            num[:, w.start + j] += float(weight[j]) * eps[:, j]
            den[w.start + j] += float(weight[j])
    return scheduler.step(num / den[None, :, None], 0, noise)


def test_parallel_windows_blend_each_windows_prediction(gen, monkeypatch):
    """Batched windows of two lengths, two variations, across calls of several windows: the same as each window
    run alone and its predictions blended by hand (catches a row order mixing windows with variations)."""
    torch.manual_seed(3)
    m = inpainting.PARALLEL_MARGIN_TOKENS
    owners = np.repeat([0, 1, 2, 3], [20, 20, 20, 14])  # windows of 20 + m, 20 + 2m, 20 + 2m, 14 + m tokens
    L, C, V = len(owners), gen.config.vae.latent_dim, 2
    parallel, windows = inpainting.plan(gen, owners, np.zeros(L, bool))
    assert parallel and [w.stop - w.start for w in windows] == [20 + m, 20 + 2 * m, 20 + 2 * m, 14 + m]
    noise = torch.randn(V, L, C)
    prompts = ["walk", "jump", "sit", "wave"]
    monkeypatch.setattr(inpainting, "CPU_BATCH_ROWS", 8)  # two guided windows of 2 variations per call
    with torch.inference_mode():
        embs = [gen.text_embeddings(p, 7.5, V) for p in prompts]
        out = inpainting.sample_tokens(gen, torch.zeros_like(noise), np.zeros(L, bool), owners, prompts, noise, 1,
                                       7.5)
        expected = _one_step_by_hand(gen, torch.zeros_like(noise), noise, windows, embs, 7.5)
    torch.testing.assert_close(out, expected, rtol=1e-4, atol=1e-4)


def test_parallel_windows_one_window_per_call_gives_the_same(gen, monkeypatch):
    owners = np.repeat([0, 1, 2], 20)
    noise = torch.randn(1, 60, gen.config.vae.latent_dim, generator=torch.Generator().manual_seed(5))
    runs = []
    for rows in (1, 64):
        monkeypatch.setattr(inpainting, "CPU_BATCH_ROWS", rows)
        with torch.inference_mode():
            runs.append(inpainting.sample_tokens(gen, torch.zeros_like(noise), np.zeros(60, bool), owners,
                                                 ["walk", "jump", "sit"], noise, 3, 7.5))
    torch.testing.assert_close(runs[0], runs[1], rtol=1e-4, atol=1e-4)


def test_a_single_window_samples_the_same_in_both_modes(gen):
    parallel = gen.generate_sequence([("a person walks", 6.0)], seed=2, steps=3, device="cpu")
    gen.timeline_windows = "sequential"
    try:
        sequential = gen.generate_sequence([("a person walks", 6.0)], seed=2, steps=3, device="cpu")
    finally:
        gen.timeline_windows = "parallel"
    np.testing.assert_array_equal(parallel.joints, sequential.joints)


def test_parallel_windows_keep_known_tokens(gen):
    torch.manual_seed(1)
    L, C = 120, gen.config.vae.latent_dim
    known = np.zeros(L, bool)
    known[:12] = True
    given, noise = torch.randn(1, L, C), torch.randn(1, L, C)
    with torch.inference_mode():
        out = inpainting.sample_tokens(gen, given, known, np.repeat([0, 1], 60), ["walk", "jump"], noise, 3, 7.5)
    torch.testing.assert_close(out[:, :12], given[:, :12], rtol=0, atol=0)


def test_timeline_takes_the_dpm_solver(gen):
    ddim = gen.generate_sequence(SEGMENTS, seed=4, steps=3, device="cpu")
    dpm = gen.generate_sequence(SEGMENTS, seed=4, steps=3, device="cpu", sampler="dpmpp_2m")
    assert dpm.info["sampler"] == "dpmpp_2m" and gen.sampler == "ddim" and np.isfinite(dpm.joints).all()
    assert not np.allclose(dpm.joints, ddim.joints)


def test_long_segments_split_into_windows(gen):
    motion = gen.generate_sequence([("a person walks", 30.0)], seed=1, steps=2, variations=2, device="cpu")
    assert motion.joints.shape == (2, 600, 22, 3) and motion.info["windows"] == 4  # 150 tokens: 49 + 3 x 39 - 16
    assert not np.allclose(motion.joints[0], motion.joints[1])


def test_known_tokens_stay_and_the_new_ones_read_them(gen):
    torch.manual_seed(0)
    L, C = 40, gen.config.vae.latent_dim
    known = np.zeros(L, bool)
    known[:12] = True
    noise = torch.randn(1, L, C)
    given = torch.randn(1, L, C)
    with torch.inference_mode():
        out = inpainting.sample_tokens(gen, given, known, np.zeros(L, int), ["walk"], noise, 4, 7.5)
        other = given.clone()
        other[:, :12] += 1.0
        out_other = inpainting.sample_tokens(gen, other, known, np.zeros(L, int), ["walk"], noise, 4, 7.5)
    torch.testing.assert_close(out[:, :12], given[:, :12], rtol=0, atol=0)
    assert (out_other[:, 12:] - out[:, 12:]).abs().max() > 1e-4  # the context reaches the new tokens


def test_seams_are_no_rougher_than_inside_segments(gen):
    """The issue's measure (largest jerk within 4 frames of a seam <= 1.2 x the 95th percentile inside segments).
    A random model's jerk is noise with long tails, so one seed's largest value of ~40 near the seams says little:
    over 4 seeds the median ratio must pass, while pasting separately generated segments end to end fails."""
    ratios, naive = [], []
    for seed in range(4):
        motion = gen.generate_sequence(SEGMENTS, seed=seed, steps=4, device="cpu")
        ratios.append(seam_smoothness(motion.joints[0], [s[1] for s in motion.segments[1:]], 20.0)["ratio"])
        parts = [gen.generate(p, s, seed=seed, steps=4, device="cpu").joints[0] for p, s in SEGMENTS]
        seams = np.cumsum([len(p) for p in parts])[:-1]
        naive.append(seam_smoothness(np.concatenate(parts), seams, 20.0)["ratio"])
    assert np.median(ratios) <= 1.2, ratios
    assert min(naive) > 2.0, naive


def _walk():
    from motion_core.data.procedural import generate_clip

    return np.asarray(generate_clip("walk", np.random.default_rng(7))[0], np.float64)


def test_edit_keeps_the_frames_outside_the_span(gen):
    walk = _walk()  # 182 frames
    motion = gen.edit_span(walk, 20, 70, "a person jumps", seed=2, steps=3, variations=2, device="cpu")
    assert motion.joints.shape == (2, 182, 22, 3) and motion.info["span"] == [20, 70]
    for joints in motion.joints.astype(np.float64):
        np.testing.assert_allclose(joints[:21], walk[:21], atol=1e-5)  # float32 result: 10 micrometres
        np.testing.assert_allclose(joints[70:], walk[70:], atol=1e-5)
        inside = np.abs(np.diff(joints[20:71], n=2, axis=0)).max()  # the regenerated frames' own acceleration
        for frame in (20, 70):
            jump = np.abs((joints[frame + 1] - joints[frame]) - (joints[frame] - joints[frame - 1])).max()
            assert jump <= 1.5 * inside
    assert not np.allclose(motion.joints[0, 30:60], walk[30:60], atol=1e-3)


def test_continuation_starts_at_the_given_pose(gen):
    walk = _walk()
    motion = gen.generate_sequence([("a person sits down", 3.0)], seed=1, steps=3, device="cpu", start=walk[:50])
    assert motion.joints.shape == (1, 60, 22, 3) and motion.info["continued"]
    np.testing.assert_allclose(motion.joints[0, 0], walk[49], atol=1e-5)
    still = gen.generate_sequence([("a person waves", 2.0)], seed=1, steps=3, device="cpu", start=walk[10])
    np.testing.assert_allclose(still.joints[0, 0], walk[10], atol=1e-5)  # one pose is enough


def test_cancel_stops_between_steps(gen):
    calls = []

    def cancel():
        calls.append(1)
        return len(calls) > 3

    with pytest.raises(GenerationCancelled):
        gen.generate_sequence(SEGMENTS, seed=0, steps=6, device="cpu", cancel=cancel)
    assert len(calls) == 4  # polled before the first step and after each, stopped on the first True


@pytest.mark.parametrize("call, words", [
    (lambda g: g.edit_span(_walk(), 0, 40, "jump", steps=2), "first"),
    (lambda g: g.edit_span(_walk(), 10, 181, "jump", steps=2), "last"),
    (lambda g: g.edit_span(_walk(), 10, 40, " ", steps=2), "prompt is empty"),
    (lambda g: g.edit_span(np.zeros((30, 21, 3)), 5, 20, "jump", steps=2), "shape"),
    (lambda g: g.generate_sequence([("walk", 3.0)], steps=0), "steps"),
    (lambda g: g.generate_sequence([("walk", 3.0)], start=np.full((5, 22, 3), np.nan)), "NaN"),
])
def test_user_errors_are_motion_errors(gen, call, words):
    with pytest.raises(MotionError, match=words):
        call(gen)


def test_a_fixed_size_latent_cannot_do_timelines():
    paper = MotionGenerator.random(ModelConfig.tiny(), seed=0, text_encoder=_FakeTextEncoder())
    with pytest.raises(MotionError, match="temporal latent"):
        paper.generate_sequence([("walk", 3.0)], steps=2, device="cpu")


def test_a_sequence_prompt_is_generated_as_a_timeline_of_its_parts(gen):
    """generate() splits "A, then B" into timed segments (equal shares, whole frames); one-action prompts, too-short
    shares and split_sequence=False keep the single-prompt path."""
    prompt = "A person jogs for a while, and then stops to wave"
    motion = gen.generate(prompt, seconds=9.0, seed=3, steps=2, variations=2, device="cpu")
    assert motion.joints.shape == (2, 180, 22, 3) and motion.prompt == prompt
    assert motion.segments == [("a person jogs for a while", 0, 90), ("stops to wave", 90, 180)]
    timeline = gen.generate_sequence([("a person jogs for a while", 4.5), ("stops to wave", 4.5)], seed=3, steps=2,
                                     variations=2, device="cpu")
    np.testing.assert_array_equal(motion.joints, timeline.joints)
    whole = gen.generate(prompt, seconds=9.0, seed=3, steps=2, device="cpu", split_sequence=False)
    assert not whole.segments and "split_sequence" not in whole.info
    short = gen.generate(prompt, seconds=1.5, seed=3, steps=2, device="cpu")  # 0.75 s each: too short to split
    assert not short.segments and short.joints.shape[1] == 30
    single = gen.generate("a person walks forward and waves", seconds=4.0, seed=3, steps=2, device="cpu")
    assert not single.segments


def test_a_fixed_size_latent_never_splits_prompts():
    paper = MotionGenerator.random(ModelConfig.tiny(), seed=0, text_encoder=_FakeTextEncoder())
    motion = paper.generate("a person walks, then sits down", seconds=4.0, seed=0, steps=2, device="cpu")
    assert not motion.segments and motion.joints.shape[1] == 80
