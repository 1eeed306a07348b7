"""motion_core.motion.timeline: segment checks, the file and inline forms, frame and token layout, the window plan,
and the seam measurement."""

import json

import numpy as np
import pytest

from motion_core.errors import MotionError
from motion_core.motion.timeline import (
    MAX_TIMELINE_SECONDS, Segment, Window, blend_weights, check_segments, frame_jerk, load_timeline, parse_inline,
    plan_parallel_windows, plan_windows, read_timeline, seam_smoothness, segment_bounds, token_owners)


def test_segments_come_in_three_forms():
    expected = [Segment("walk", 4.0), Segment("sit down", 3.0)]
    assert check_segments([("walk", 4), (" sit down ", 3.0)]) == expected
    assert check_segments([{"prompt": "walk", "seconds": 4}, Segment("sit down", 3)]) == expected


@pytest.mark.parametrize("segments, words", [
    ([], "no segments"),
    ("walk:4", "list of"),
    ([("walk", 0.5)], "at least 1 s"),
    ([("walk", float("nan"))], "at least 1 s"),
    ([("walk", True)], "at least 1 s"),
    ([(" ", 2.0)], "segment 1 has no prompt"),
    ([("walk", 2.0), ("run", 2.0, 1)], "segment 2 must be"),
    ([{"prompt": "walk", "seconds": 2, "speed": 3}], "not 'speed'"),
    ([("walk", MAX_TIMELINE_SECONDS / 2), ("run", MAX_TIMELINE_SECONDS / 2 + 1)], "10 minutes"),
])
def test_bad_segments_are_one_line_errors(segments, words):
    with pytest.raises(MotionError, match=words) as error:
        check_segments(segments)
    assert "\n" not in str(error.value)


def test_inline_form_splits_at_the_last_colon():
    assert parse_inline("walk forward: 4; turns: then sits:2.5;") == [Segment("walk forward", 4.0),
                                                                       Segment("turns: then sits", 2.5)]
    with pytest.raises(MotionError, match="PROMPT:SECONDS"):
        parse_inline("walk forward 4")


def test_timeline_file(tmp_path):
    path = tmp_path / "shot.json"
    path.write_text(json.dumps({"segments": [{"prompt": "walk", "seconds": 4.0}, {"prompt": "sit", "seconds": 3}]}))
    assert load_timeline(path) == read_timeline(str(path)) == [Segment("walk", 4.0), Segment("sit", 3.0)]
    assert read_timeline("walk:4;sit:3") == [Segment("walk", 4.0), Segment("sit", 3.0)]
    path.write_text('{"segments": [], "fps": 30}')
    with pytest.raises(MotionError, match="nothing else"):
        load_timeline(path)
    path.write_text("{not json")
    with pytest.raises(MotionError, match="not a JSON timeline"):
        load_timeline(path)
    with pytest.raises(MotionError, match="not found"):
        read_timeline(str(tmp_path / "missing.json"))


def test_bounds_round_the_running_time_and_tokens_follow_their_middle_frame():
    segments = check_segments([("a", 1.03)] * 10)
    bounds = segment_bounds(segments, 20.0)
    assert bounds[-1] == round(10.3 * 20) == 206  # per-segment rounding would give 200
    assert set(np.diff(bounds)) == {20, 21}
    owners = token_owners(np.array([0, 22, 41]), 4)
    assert len(owners) == 11 and list(owners) == [0] * 5 + [1] * 6  # token 5 (frames 20-23) has its middle at 22


def _check_plan(owners, known, max_tokens, overlap):
    windows = plan_windows(owners, known, max_tokens, overlap)
    done = np.array(known, dtype=bool)
    for w in windows:
        assert 0 <= w.start < w.stop <= len(owners) and w.stop - w.start <= max_tokens
        new = ~done[w.start:w.stop]
        assert new.any() and (owners[w.start:w.stop][new] == w.segment).all()
        first_new = w.start + int(np.argmax(new))
        assert first_new - w.start == min(overlap, first_new)  # all the context it can get, known by now
        done[w.start:w.stop] = True
    assert done.all()
    return windows


def test_windows_cover_a_long_timeline_once_with_context():
    owners = np.repeat(np.arange(4), [5, 120, 7, 30])
    windows = _check_plan(owners, np.zeros(len(owners), bool), 49, 10)
    assert windows[0].start == 0 and windows[0].stop == 5  # the first segment alone
    sizes = [w.stop - w.start for w in windows]
    assert max(sizes) <= 49 and len(windows) == 1 + 4 + 1 + 1  # 120 tokens: 4 windows of 30 new + 10 context


def test_windows_read_given_tokens_on_both_sides_of_a_gap():
    known = np.ones(60, dtype=bool)
    known[20:31] = False
    windows = _check_plan(np.zeros(60, int), known, 49, 10)
    assert [(w.start, w.stop) for w in windows] == [(10, 41)]
    known[5:55] = False  # a 50-token gap: split, the last part takes the right-hand context
    windows = _check_plan(np.zeros(60, int), known, 49, 10)
    assert windows[-1].stop == 60 and len(windows) == 2


def test_plan_cost_is_linear_in_length():
    counts = [len(plan_windows(np.zeros(n, int), np.zeros(n, bool), 49, 10)) for n in (300, 600, 1200, 3000)]
    assert counts == [8, 16, 31, 77]  # ceil((n - 49) / 39) + 1


def test_seam_measure_finds_a_pop_and_passes_smooth_motion():
    t = np.arange(200) / 20.0
    smooth = np.stack([np.sin(t), 0.2 * np.cos(2 * t), 0.5 * t], -1)[:, None].repeat(3, axis=1)  # (200, 3, 3)
    result = seam_smoothness(smooth, [70, 140], 20.0)
    assert result["ratio"] < 1.2
    popped = smooth.copy()
    popped[140:] += 0.05  # a 5 cm jump
    assert seam_smoothness(popped, [70, 140], 20.0)["ratio"] > 10
    assert frame_jerk(smooth, 20.0).shape == (197,)


def test_blend_weights_taper_across_each_overlap():
    windows = [Window(0, 30, 0), Window(20, 50, 1), Window(40, 60, 2)]
    weights, total = blend_weights(windows, 70)
    np.testing.assert_allclose(weights[1][:10], np.arange(1, 11) / 11)  # ramps up over its 10 shared tokens ...
    np.testing.assert_allclose(weights[0][20:], 1 - np.arange(1, 11) / 11)  # ... as the window before ramps down
    np.testing.assert_allclose(weights[1][20:], 1 - np.arange(1, 11) / 11)
    np.testing.assert_allclose(weights[0][:20], 1.0)
    assert all((w > 0).all() and (w <= 1).all() for w in weights)
    np.testing.assert_allclose(total[:60], 1.0)  # a partition of unity wherever windows are ...
    np.testing.assert_allclose(total[60:], 0.0)  # ... and nothing where none is


def test_parallel_windows_share_tokens_centred_on_each_seam():
    owners = np.repeat([0, 1, 2], [25, 25, 120])  # the last segment is longer than one window
    windows = plan_parallel_windows(owners, np.zeros(170, bool), 49, 5)
    assert [(w.start, w.stop, w.segment) for w in windows[:3]] == [(0, 30, 0), (20, 55, 1), (45, 85, 2)]
    assert all(w.stop - w.start <= 49 for w in windows) and windows[-1].stop == 170
    for a, b in zip(windows, windows[1:]):
        assert a.stop - b.start == 10  # 2 x margin shared, 5 each side of the seam
    known = np.zeros(60, bool)
    known[:20] = True  # a continuation's given tokens: context only
    assert [(w.start, w.stop) for w in plan_parallel_windows(np.zeros(60, int), known, 49, 5)] == [(15, 60)]
    assert plan_parallel_windows(np.zeros(30, int), np.zeros(30, bool), 49, 5) == [Window(0, 30, 0)]
