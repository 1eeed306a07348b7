"""motion_core.motion.protocol: the request's limits and checks, and the result .npz round trip."""

import errno
import json
import os

import numpy as np
import pytest

from motion_core.errors import MotionError
from motion_core.motion import protocol, timeline
from motion_core.motion.clip import Motion
from motion_core.motion.protocol import GenerateRequest, SequenceRequest, load_joints, load_result, save_result
from motion_core.worker import parse_request


def test_limits_are_one_segment_of_the_vae_at_20_fps():
    assert protocol.FPS == 20.0 and protocol.MAX_FRAMES == 196
    assert protocol.MAX_SECONDS == 9.8  # exactly the literal the sliders and messages show
    assert protocol.MIN_SECONDS == timeline.MIN_SEGMENT_SECONDS == 1.0
    assert protocol.MAX_TIMELINE_SECONDS == timeline.MAX_TIMELINE_SECONDS


@pytest.mark.parametrize("seconds", [protocol.MIN_SECONDS, 4.0, protocol.MAX_SECONDS])
def test_a_request_at_and_inside_the_limits_passes_with_its_prompt_stripped(seconds):
    request = GenerateRequest(prompt="  a person walks  ", seconds=seconds, seed=protocol.MAX_SEED,
                              steps=protocol.MAX_STEPS, guidance=protocol.MAX_GUIDANCE,
                              variations=protocol.MAX_VARIATIONS).checked()
    assert request.prompt == "a person walks" and request.seconds == seconds


@pytest.mark.parametrize("fields, words", [
    ({"prompt": " "}, "prompt is empty"),
    ({"prompt": 5}, "must be text"),
    ({"seconds": 0.99}, "between 1 and 9.8"),
    ({"seconds": 9.81}, "between 1 and 9.8"),
    ({"seconds": float("nan")}, "finite"),
    ({"seconds": "3"}, "finite number"),
    ({"seconds": True}, "finite number"),
    ({"guidance": -0.5}, "between 0 and 50"),
    ({"guidance": float("inf")}, "finite"),
    ({"steps": 0}, "steps must be a whole number between 1 and 1000"),
    ({"steps": 2.0}, "steps"),
    ({"variations": 65}, "variations"),
    ({"seed": -1}, "seed"),
    ({"seed": 2 ** 63}, "seed"),
    ({"sampler": "euler"}, "sampler must be one of ddim, dpmpp_2m"),
    ({"candidates": 0}, "candidates must be a whole number between 1 and 8"),
    ({"candidates": 3.0}, "candidates"),
    ({"candidates": 8, "variations": 9}, "at most 64 takes"),
])
def test_bad_requests_raise_one_line_motion_errors(fields, words):
    request = GenerateRequest(**{"prompt": "walk", "seconds": 2.0, **fields})
    with pytest.raises(MotionError, match=words) as info:
        request.checked()
    assert "\n" not in str(info.value)


def test_an_empty_prompt_is_fine_without_guidance():
    assert GenerateRequest(prompt="", seconds=2.0, guidance=0.0).checked().prompt == ""


def test_sequence_requests_check_their_segments_and_settings():
    request = SequenceRequest(segments=(("  walk ", 2), ("sit down", 1.5))).checked()
    assert request.segments == (("walk", 2.0), ("sit down", 1.5)) and request.prompt == "walk; sit down"
    with pytest.raises(MotionError, match="at least 1 s"):
        SequenceRequest(segments=(("walk", 0.5),)).checked()
    with pytest.raises(MotionError, match="steps"):
        SequenceRequest(segments=(("walk", 2.0),), steps=0).checked()
    with pytest.raises(MotionError, match="sampler"):
        SequenceRequest(segments=(("walk", 2.0),), sampler="DDIM").checked()


def test_messages_are_the_workers_requests():
    generate = GenerateRequest(prompt="walk", seconds=2.0, seed=3, out="/tmp/r.npz", sampler="dpmpp_2m",
                               candidates=3).message("g1")
    sequence = SequenceRequest(segments=(("walk", 2.0),), variations=2).message("s1", start_path="/tmp/s.npz")
    for message in (generate, sequence):
        assert parse_request(json.dumps(message)) == message  # every field is one the worker accepts
    assert generate["type"] == "generate" and generate["out"] == "/tmp/r.npz" and generate["sampler"] == "dpmpp_2m"
    assert generate["candidates"] == 3
    assert sequence["sampler"] == "ddim"
    assert sequence["segments"] == [{"prompt": "walk", "seconds": 2.0}] and sequence["start"] == "/tmp/s.npz"


def _motion(variations=2, frames=7, segments=(), seed=11):
    joints = np.random.default_rng(0).normal(size=(variations, frames, 22, 3)).astype(np.float32)
    return Motion(joints=joints, fps=20.0, prompt="a person waves", seed=seed, segments=list(segments))


@pytest.mark.parametrize("segments, seed", [((), 11), ((("walk", 0, 4), ("sit", 4, 7)), 0), ((), None)])
def test_result_round_trip(tmp_path, segments, seed):
    motion = _motion(segments=segments, seed=seed)
    save_result(tmp_path / "r.npz", motion)
    back = load_result(tmp_path / "r.npz")
    assert back.joints.dtype == np.float32 and back.joints.shape == (2, 7, 22, 3)
    np.testing.assert_array_equal(back.joints, motion.joints)
    assert (back.fps, back.prompt, back.seed, back.segments) == (20.0, "a person waves", seed, list(segments))
    assert [p.name for p in tmp_path.iterdir()] == ["r.npz"]  # no temporary file left beside it


def test_motion_files_from_export_read_as_one_variation(tmp_path):
    motion = _motion(variations=1, frames=12)
    motion.save(tmp_path / "m.npz")  # export's format: (T, 22, 3) joints plus rotations and more
    joints, arrays = load_joints(tmp_path / "m.npz")
    assert joints.shape == (1, 12, 22, 3) and "rotations" in arrays
    back = load_result(tmp_path / "m.npz")
    assert back.seed == 11 and back.prompt == "a person waves"
    np.testing.assert_allclose(back.joints, motion.joints, atol=1e-6)


def _write(path, kind):
    if kind == "npy":
        np.save(path, np.zeros((5, 22, 3)))
    elif kind == "text":
        path.write_text("not an npz")
    elif kind == "truncated":
        np.savez(path, joints=np.zeros((50, 22, 3)))
        path.write_bytes(path.read_bytes()[:200])
    elif kind == "no joints":
        np.savez(path, motion=np.zeros((5, 22, 3)))
    elif kind == "24 joints":
        np.savez(path, joints=np.zeros((5, 24, 3)))
    elif kind == "no frames":
        np.savez(path, joints=np.zeros((1, 0, 22, 3)))
    elif kind == "nan":
        np.savez(path, joints=np.full((5, 22, 3), np.nan))
    elif kind == "text joints":
        np.savez(path, joints=np.full((5, 22, 3), "x"))
    elif kind == "pickled":
        np.savez(path, joints=np.array([{"a": 1}], dtype=object))
    elif kind == "bad fps":
        np.savez(path, joints=np.zeros((5, 22, 3)), fps=np.float32(0))
    elif kind == "fps array":
        np.savez(path, joints=np.zeros((5, 22, 3)), fps=np.zeros(3))
    elif kind == "half a timeline":
        np.savez(path, joints=np.zeros((5, 22, 3)), segment_prompts=np.array(["walk"]))


@pytest.mark.parametrize("kind", ["missing", "npy", "text", "truncated", "no joints", "24 joints", "no frames", "nan",
                                  "text joints", "pickled", "bad fps", "fps array",
                                  "half a timeline"])
def test_a_file_of_another_format_is_one_clear_error(tmp_path, kind):
    path = tmp_path / "wrong.npz"
    if kind != "missing":
        _write(path, kind)
    with pytest.raises(MotionError) as info:
        load_result(path, "the cached motion")
    message = str(info.value)
    assert "\n" not in message and "wrong.npz" in message and "the cached motion" in message


def test_a_full_disk_is_one_line_and_keeps_the_previous_file(tmp_path, monkeypatch):
    path = tmp_path / "r.npz"
    save_result(path, _motion())
    before = path.read_bytes()

    def full_disk(file, **arrays):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(protocol.np, "savez", full_disk)
    with pytest.raises(MotionError, match="No space left") as info:
        save_result(path, _motion(frames=3))
    assert "\n" not in str(info.value)
    assert path.read_bytes() == before and [p.name for p in tmp_path.iterdir()] == ["r.npz"]
