"""The JSON-lines worker: protocol events for load, generate, cancel, shutdown and malformed input."""

import io
import json
import os
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from motion_core.generator import MotionGenerator
from motion_core.models.config import ModelConfig
from motion_core.motion.protocol import load_result
from motion_core.worker import parse_request, serve


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    folder = tmp_path_factory.mktemp("weights")
    MotionGenerator.random(ModelConfig.tiny(), seed=0).save_pretrained(folder)
    return folder


def run_worker(lines, timeout=300):
    """Serve `lines` (dicts or raw strings) to the end of input; a worker that hangs fails the test, not the run."""
    stdout = io.StringIO()
    stdin = io.StringIO("".join(json.dumps(x) + "\n" if not isinstance(x, str) else x + "\n" for x in lines))
    codes = []
    thread = threading.Thread(target=lambda: codes.append(serve(stdin=stdin, stdout=stdout)), daemon=True)
    thread.start()
    thread.join(timeout)
    assert not thread.is_alive(), "the worker hung"
    return codes[0], [json.loads(line) for line in stdout.getvalue().splitlines()]


def test_load_generate_shutdown_with_progress_and_a_result_file(weights, tmp_path):
    out = tmp_path / "r.npz"
    code, events = run_worker([
        {"id": "l", "type": "load", "weights": str(weights), "device": "cpu"},
        {"id": "g", "type": "generate", "prompt": "a person walks", "seconds": 1.2, "seed": 3, "steps": 4,
         "guidance": 7.5, "variations": 2, "out": str(out)},
        {"id": "g2", "type": "generate", "prompt": "jump", "seconds": 1.0, "steps": 2},
        {"id": "s", "type": "shutdown"},
    ])
    assert code == 0
    assert events[0] == {"id": "l", "type": "ready", "device": "cpu", "model": events[0]["model"]}
    progress = [e for e in events if e["type"] == "progress" and e["id"] == "g"]
    assert [(e["step"], e["total"]) for e in progress] == [(1, 4), (2, 4), (3, 4), (4, 4)]
    result = next(e for e in events if e["type"] == "result" and e["id"] == "g")
    assert result["path"] == str(out) and result["frames"] == 24 and result["fps"] == 20.0
    assert result["seed"] == 3 and result["variations"] == 2 and result["elapsed_s"] > 0
    with np.load(out) as data:
        assert data["joints"].shape == (2, 24, 22, 3) and data["joints"].dtype == np.float32
        assert str(data["prompt"]) == "a person walks" and int(data["seed"]) == 3 and float(data["fps"]) == 20.0
    second = next(e for e in events if e["type"] == "result" and e["id"] == "g2")
    # out null: a file in the worker's scratch folder, which is removed when the worker exits
    assert second["path"].endswith("_g2.npz") and not os.path.exists(second["path"])
    assert isinstance(second["seed"], int)
    assert events[-1] == {"id": "s", "type": "bye"}


def test_malformed_requests_get_error_events_and_the_worker_keeps_serving(weights):
    code, events = run_worker([
        "this is not json",
        "[1, 2]",
        {"id": "u", "type": "dance"},
        {"id": "c", "type": "cancel"},
        {"id": "early", "type": "generate", "prompt": "walk", "seconds": 2.0},
        {"id": "l", "type": "load", "weights": str(weights), "device": "cpu"},
        {"id": "bad", "type": "generate", "prompt": "walk", "seconds": 42},
        {"id": "missing", "type": "generate", "prompt": "walk"},
        {"id": "l2", "type": "load", "weights": "/nonexistent/folder"},
        {"id": "ok", "type": "generate", "prompt": "walk", "seconds": 1.0, "steps": 1},
        {"id": "s", "type": "shutdown"},
    ])
    assert code == 0
    errors = {e["id"]: e for e in events if e["type"] == "error"}
    assert "not JSON" in errors[None]["message"] or "JSON object" in errors[None]["message"]
    assert "unknown request type" in errors["u"]["message"]
    assert "target" in errors["c"]["message"]
    assert "send a load request first" in errors["early"]["message"]
    assert "between 1 and 9.8" in errors["bad"]["message"] and "traceback" not in errors["bad"]
    assert "prompt" in errors["missing"]["message"]
    assert "weights folder not found" in errors["l2"]["message"]
    assert any(e["type"] == "result" and e["id"] == "ok" for e in events)  # the first model stayed loaded
    assert sum(1 for e in events if e["type"] == "error" and e["id"] is None) == 2
    assert events[-1] == {"id": "s", "type": "bye"}


def test_parse_request_rules():
    assert parse_request('{"id": "1", "type": "shutdown"}')["type"] == "shutdown"
    for bad in ('{"type": "x"}', '"load"', "{", '{"id": "c", "type": "cancel"}'):
        with pytest.raises(ValueError):
            parse_request(bad)


@pytest.mark.parametrize("line, words", [
    ('{"id": 1, "type": "shutdown"}', '"id" must be a string'),
    ('{"type": "shutdown"}', '"id" must be a string'),
    ('{"id": NaN, "type": "load"}', '"id" must be a string'),
    ('{"id": "g", "type": "generate", "prompt": "walk", "seconds": NaN}', '"seconds" must be a finite number'),
    ('{"id": "g", "type": "generate", "prompt": "walk", "seconds": 1e999}', '"seconds" must be a finite number'),
    ('{"id": "g", "type": "generate", "prompt": "walk", "seconds": 2, "guidance": -Infinity}', "finite"),
    ('{"id": "g", "type": "generate", "prompt": "walk", "seconds": "2"}', '"seconds" must be a finite number'),
    ('{"id": "g", "type": "generate", "prompt": "walk", "seconds": true}', '"seconds" must be a finite number'),
    ('{"id": "g", "type": "generate", "prompt": ["walk"], "seconds": 2}', '"prompt" must be a string'),
    ('{"id": "g", "type": "generate", "prompt": "walk", "seconds": 2, "steps": 2.5}', '"steps" must be a whole'),
    ('{"id": "g", "type": "generate", "prompt": "walk", "seconds": 2, "seed": "7"}', '"seed" must be a whole'),
    ('{"id": "g", "type": "generate", "prompt": "walk", "seconds": 2, "out": 3}', '"out" must be'),
    ('{"id": "c", "type": "cancel", "target": ["g"]}', '"target" must be a string'),
    ('{"id": "c", "type": "cancel", "target": {"a": 1}}', '"target" must be a string'),
    ('{"id": "l", "type": "load", "weights": 5}', '"weights" must be'),
    ('{"id": "l", "type": "load", "device": ["cpu"]}', '"device" must be'),
    ('{"id": "g", "type": "generate", "prompt": "walk", "seconds": 2, "steps": ' + "9" * 5000 + "}", "not JSON"),
])
def test_parse_request_checks_the_schema_with_one_line_messages(line, words):
    with pytest.raises(ValueError) as info:
        parse_request(line)
    assert words in str(info.value) and "\n" not in str(info.value)


def test_malformed_cancels_and_ids_never_wedge_the_worker(weights, tmp_path):
    """A cancel whose target is a list used to kill the stdin thread (then shutdown and end of input were ignored);
    an id NaN crashed the worker with no event."""
    code, events = run_worker([
        {"id": "c1", "type": "cancel", "target": ["g"]},
        {"id": "c2", "type": "cancel", "target": {"x": 1}},
        '{"id": NaN, "type": "load"}',
        '{"id": "g", "type": "generate", "prompt": "walk", "seconds": NaN}',
        {"id": "l", "type": "load", "weights": str(weights), "device": "cpu"},
        {"id": "ok", "type": "generate", "prompt": "walk", "seconds": 1.0, "steps": 1},
        {"id": "s", "type": "shutdown"},
    ])
    assert code == 0
    assert [e["type"] for e in events if e["id"] in ("c1", "c2")] == ["error", "error"]
    assert sum(1 for e in events if e["type"] == "error" and e["id"] is None) == 1  # the NaN id
    assert "finite" in next(e for e in events if e["id"] == "g")["message"]
    assert any(e["type"] == "result" and e["id"] == "ok" for e in events)
    assert events[-1] == {"id": "s", "type": "bye"}


def test_every_request_gets_one_terminal_event_and_unknown_cancels_are_forgotten(weights):
    code, events = run_worker([
        {"id": "l", "type": "load", "weights": str(weights), "device": "cpu"},
        {"id": "c0", "type": "cancel", "target": "later"},  # unknown now: not_found, and not remembered
        {"id": "q", "type": "generate", "prompt": "walk", "seconds": 1.0, "steps": 1},
        {"id": "c1", "type": "cancel", "target": "q2"},
        {"id": "q2", "type": "generate", "prompt": "walk", "seconds": 1.0, "steps": 1},
        {"id": "later", "type": "generate", "prompt": "walk", "seconds": 1.0, "steps": 1},
        {"id": "s", "type": "shutdown"},
    ])
    assert code == 0
    terminal = {}
    for event in events:
        if event["type"] not in ("progress",):
            terminal.setdefault(event["id"], []).append(event["type"])
    assert terminal["c0"] == ["not_found"]
    assert terminal["later"] == ["result"]  # the earlier unknown cancel did not stop it
    assert terminal["q"] == ["result"]
    assert all(len(kinds) == 1 for kinds in terminal.values()), terminal


def test_cancel_of_a_queued_request_answers_both_ids():
    """The cancel is answered at once; the queued generation answers "cancelled" when its turn comes."""
    import threading as _threading

    from motion_core.worker import Worker, _Protocol

    stdout = io.StringIO()
    worker = Worker(_Protocol(stdout))
    gate = _threading.Event()
    worker.load = lambda request: gate.wait(10)  # a slow load keeps "g" queued while the cancel arrives
    lines = [json.dumps(x) + "\n" for x in (
        {"id": "l", "type": "load"},
        {"id": "g", "type": "generate", "prompt": "walk", "seconds": 1.0},
        {"id": "c", "type": "cancel", "target": "g"},
        {"id": "s", "type": "shutdown"},
    )]
    worker.read_requests(io.StringIO("".join(lines)))
    gate.set()
    assert worker.serve() == 0
    events = [json.loads(line) for line in stdout.getvalue().splitlines()]
    assert {"id": "c", "type": "cancelled", "target": "g"} in events
    assert {"id": "g", "type": "cancelled"} in events
    assert not worker.cancelled and not worker.pending  # nothing is remembered after its request ended


def test_scratch_result_names_cannot_collide(weights, monkeypatch):
    from motion_core.worker import Worker

    monkeypatch.setattr(Worker, "remove_scratch", lambda self: None)  # keep the files to read them after exit
    code, events = run_worker([
        {"id": "l", "type": "load", "weights": str(weights), "device": "cpu"},
        {"id": "take/1", "type": "generate", "prompt": "walk", "seconds": 1.0, "steps": 1, "seed": 1},
        {"id": "take_1", "type": "generate", "prompt": "jump", "seconds": 1.0, "steps": 1, "seed": 2},
        {"id": "take?1", "type": "generate", "prompt": "run", "seconds": 1.0, "steps": 1, "seed": 3},
        {"id": "take/1", "type": "generate", "prompt": "walk", "seconds": 1.0, "steps": 1},  # still queued
        {"id": "s", "type": "shutdown"},
    ])
    assert "already queued or running" in next(e for e in events if e["id"] == "take/1" and e["type"] == "error")[
        "message"]
    paths = [e["path"] for e in events if e["type"] == "result"]
    assert len(paths) == 3 and len(set(paths)) == 3
    prompts = []
    for path in paths:
        with np.load(path) as data:
            prompts.append(str(data["prompt"]))
    assert prompts == ["walk", "jump", "run"]


def test_invalid_utf8_on_stdin_is_an_error_event_not_a_dead_reader(weights):
    stdout = io.StringIO()
    stdin = io.BytesIO(b'{"id": "x", "type": "generate", "prompt": "w\xffalk", "seconds": 1}\n'
                       b'{"id": "s", "type": "shutdown"}\n')
    assert serve(stdin=stdin, stdout=stdout) == 0
    events = [json.loads(line) for line in stdout.getvalue().splitlines()]
    assert events[0]["type"] == "error" and "UTF-8" in events[0]["message"]
    assert events[-1] == {"id": "s", "type": "bye"}


def test_worker_memory_stays_flat_over_many_requests():
    from motion_core.worker import Worker, _Protocol

    stdout = io.StringIO()
    worker = Worker(_Protocol(stdout))
    lines = "".join(json.dumps({"id": f"c{i}", "type": "cancel", "target": f"g{i}"}) + "\n" for i in range(10000))
    worker.read_requests(io.StringIO(lines))
    assert not worker.cancelled and not worker.pending
    assert stdout.getvalue().count('"not_found"') == 10000


def test_cancel_stops_a_running_generation_in_a_real_process(weights):
    """The add-on's view: a subprocess, requests written while it works, cancel read on the stdin thread."""
    process = subprocess.Popen([sys.executable, "-m", "motion_core", "worker"], stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, bufsize=1)

    def send(request):
        process.stdin.write(json.dumps(request) + "\n")
        process.stdin.flush()

    def next_event():
        return json.loads(process.stdout.readline())

    try:
        send({"id": "l", "type": "load", "weights": str(weights), "device": "cpu"})
        assert next_event()["type"] == "ready"
        send({"id": "g", "type": "generate", "prompt": "walk", "seconds": 9.8, "steps": 1000})
        first = next_event()
        assert first == {"id": "g", "type": "progress", "step": 1, "total": 1000}
        send({"id": "c", "type": "cancel", "target": "g"})
        # Two terminal events, in either order: the generation's own `cancelled` (from the sampling thread) and the
        # cancel request's answer (from the stdin thread); under load either can reach the pipe first.
        wanted = [{"id": "g", "type": "cancelled"}, {"id": "c", "type": "cancelled", "target": "g"}]
        events = []
        while not all(event in events for event in wanted):
            events.append(next_event())
            assert len(events) < 2000, events[-5:]
        send({"id": "s", "type": "shutdown"})
        assert next_event() == {"id": "s", "type": "bye"}
        assert process.wait(timeout=30) == 0
    finally:
        if process.poll() is None:
            process.kill()


def test_end_of_input_stops_a_running_generation_within_a_step(weights):
    """The add-on went away (its pipe closed): the worker stops sampling and exits, instead of finishing 1000 steps."""
    process = subprocess.Popen([sys.executable, "-I", "-m", "motion_core", "worker"], stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, bufsize=1,
                               cwd=str(weights))
    try:
        process.stdin.write(json.dumps({"id": "l", "type": "load", "weights": str(weights), "device": "cpu"}) + "\n")
        process.stdin.write(json.dumps({"id": "g", "type": "generate", "prompt": "walk", "seconds": 9.8,
                                        "steps": 1000}) + "\n")
        process.stdin.flush()
        assert json.loads(process.stdout.readline())["type"] == "ready"
        assert json.loads(process.stdout.readline())["type"] == "progress"
        process.stdin.close()
        started = time.monotonic()
        assert process.wait(timeout=60) == 0
        events = [json.loads(line) for line in process.stdout.read().splitlines()]
        assert {"id": "g", "type": "cancelled"} in events and events[-1] == {"id": None, "type": "bye"}
        assert len([e for e in events if e["type"] == "progress"]) < 900
        assert time.monotonic() - started < 30
    finally:
        if process.poll() is None:
            process.kill()


def test_foot_cleanup_field_reaches_the_generator_and_must_be_a_bool(weights, monkeypatch):
    seen = []
    original = MotionGenerator.generate

    def spy(self, *args, **kwargs):
        seen.append(kwargs["foot_cleanup"])
        return original(self, *args, **kwargs)

    monkeypatch.setattr(MotionGenerator, "generate", spy)
    code, events = run_worker([
        {"id": "l", "type": "load", "weights": str(weights), "device": "cpu"},
        {"id": "on", "type": "generate", "prompt": "walk", "seconds": 1.0, "steps": 1},
        {"id": "off", "type": "generate", "prompt": "walk", "seconds": 1.0, "steps": 1, "foot_cleanup": False},
        {"id": "bad", "type": "generate", "prompt": "walk", "seconds": 1.0, "steps": 1, "foot_cleanup": "no"},
        {"id": "s", "type": "shutdown"},
    ])
    assert code == 0 and seen == [True, False]
    assert {e["id"]: e["type"] for e in events if e["id"] in ("on", "off", "bad") and e["type"] != "progress"} == {
        "on": "result", "off": "result", "bad": "error"}
    bad = next(e for e in events if e["id"] == "bad")
    assert "foot_cleanup" in bad["message"] and "traceback" not in bad


def test_candidates_field_keeps_the_best_takes_and_bad_values_are_errors(weights, tmp_path):
    code, events = run_worker([
        {"id": "l", "type": "load", "weights": str(weights), "device": "cpu"},
        {"id": "best", "type": "generate", "prompt": "a person walks forward", "seconds": 1.0, "steps": 1,
         "variations": 2, "candidates": 3, "out": str(tmp_path / "best.npz")},
        {"id": "zero", "type": "generate", "prompt": "walk", "seconds": 1.0, "steps": 1, "candidates": 0},
        {"id": "text", "type": "generate", "prompt": "walk", "seconds": 1.0, "steps": 1, "candidates": "3"},
        {"id": "s", "type": "shutdown"},
    ])
    final = {e["id"]: e for e in events if e["type"] != "progress"}
    assert code == 0 and final["best"]["type"] == "result" and final["best"]["variations"] == 2
    assert load_result(tmp_path / "best.npz").joints.shape[0] == 2  # 6 takes drawn, the 2 best kept
    assert final["zero"]["type"] == "error" and "between 1 and 8" in final["zero"]["message"]
    assert final["text"]["type"] == "error" and "candidates" in final["text"]["message"]


def test_sampler_field_reaches_every_request_type_and_must_be_known(tmp_path, monkeypatch):
    MotionGenerator.random(ModelConfig.tiny_temporal(), seed=0).save_pretrained(tmp_path)  # timelines need it
    seen = []
    for name in ("generate", "generate_sequence", "edit_span"):
        original = getattr(MotionGenerator, name)

        def spy(self, *args, _original=original, **kwargs):
            if "sampler" in kwargs:  # the worker's call, not generate's own call back with the sampler set
                seen.append(kwargs["sampler"])
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(MotionGenerator, name, spy)
    code, events = run_worker([
        {"id": "l", "type": "load", "weights": str(tmp_path), "device": "cpu"},
        {"id": "g", "type": "generate", "prompt": "walk", "seconds": 1.0, "steps": 2, "seed": 1,
         "out": str(tmp_path / "g.npz")},
        {"id": "f", "type": "generate", "prompt": "walk", "seconds": 1.0, "steps": 2, "seed": 1, "sampler": "dpmpp_2m",
         "out": str(tmp_path / "f.npz")},
        {"id": "q", "type": "sequence", "segments": [{"prompt": "walk", "seconds": 1.0}], "steps": 2,
         "sampler": "dpmpp_2m"},
        {"id": "bad", "type": "generate", "prompt": "walk", "seconds": 1.0, "steps": 1, "sampler": "euler"},
        {"id": "s", "type": "shutdown"},
    ])
    assert code == 0 and seen == ["ddim", "dpmpp_2m", "dpmpp_2m"]
    done = {e["id"]: e for e in events if e["id"] in ("g", "f", "q", "bad") and e["type"] != "progress"}
    assert {k: e["type"] for k, e in done.items()} == {"g": "result", "f": "result", "q": "result", "bad": "error"}
    assert "sampler" in done["bad"]["message"] and "dpmpp_2m" in done["bad"]["message"]
    # the sampler changes the motion (same seed): the request did not just pass through
    g, f = (load_result(tmp_path / f"{k}.npz").joints for k in ("g", "f"))
    assert not np.allclose(g, f)


@pytest.fixture(scope="module")
def temporal_weights(tmp_path_factory):
    folder = tmp_path_factory.mktemp("temporal_weights")
    MotionGenerator.random(ModelConfig.tiny_temporal(), seed=0).save_pretrained(folder)
    return folder


def test_sequence_and_edit_requests(temporal_weights, tmp_path, monkeypatch):
    from motion_core.data.procedural import generate_clip
    from motion_core.worker import Worker

    monkeypatch.setattr(Worker, "remove_scratch", lambda self: None)  # read the scratch results after exit

    walk = generate_clip("walk", np.random.default_rng(7))[0][:60]
    np.savez(tmp_path / "walk.npz", joints=walk)
    segments = [{"prompt": "a person walks", "seconds": 2.0}, {"prompt": "a person sits down", "seconds": 1.5}]
    code, events = run_worker([
        {"id": "l", "type": "load", "weights": str(temporal_weights), "device": "cpu"},
        {"id": "s", "type": "sequence", "segments": segments, "seed": 1, "steps": 2, "out": str(tmp_path / "s.npz")},
        {"id": "c", "type": "sequence", "segments": segments[1:], "start": str(tmp_path / "walk.npz"), "steps": 2},
        {"id": "e", "type": "edit", "motion": str(tmp_path / "walk.npz"), "first": 10, "last": 40,
         "prompt": "a person jumps", "steps": 2, "variations": 2},
        {"id": "bad", "type": "sequence", "segments": [{"prompt": "walk", "seconds": 0.2}]},
        {"id": "gone", "type": "edit", "motion": str(tmp_path / "missing.npz"), "first": 1, "last": 9, "prompt": "x"},
        {"id": "x", "type": "shutdown"},
    ])
    assert code == 0
    results = {e["id"]: e for e in events if e["type"] == "result"}
    errors = {e["id"]: e for e in events if e["type"] == "error"}
    assert results["s"]["frames"] == 70 and results["s"]["segments"] == [
        {"prompt": "a person walks", "start_frame": 0, "end_frame": 40},
        {"prompt": "a person sits down", "start_frame": 40, "end_frame": 70}]
    with np.load(tmp_path / "s.npz") as data:
        assert data["joints"].shape == (1, 70, 22, 3) and list(data["segment_starts"]) == [0, 40]
    with np.load(results["c"]["path"]) as data:
        np.testing.assert_allclose(data["joints"][0, 0], walk[-1], atol=1e-5)  # continues from the last pose
    with np.load(results["e"]["path"]) as data:
        assert data["joints"].shape == (2, 60, 22, 3)
        np.testing.assert_allclose(data["joints"][:, :11], np.repeat(walk[None, :11], 2, 0), atol=1e-5)
    assert "at least 1 s" in errors["bad"]["message"] and "traceback" not in errors["bad"]
    assert "cannot read joints" in errors["gone"]["message"] and "traceback" not in errors["gone"]
    assert {e["id"] for e in events if e["type"] == "progress"} == {"s", "c", "e"}


@pytest.mark.parametrize("request_fields, words", [
    ({"type": "sequence"}, "needs \"segments\""),
    ({"type": "sequence", "segments": "walk:2"}, "\"segments\" must be a list"),
    ({"type": "edit", "motion": "m.npz", "prompt": "x"}, "needs \"motion\", \"first\", \"last\" and \"prompt\""),
    ({"type": "edit", "motion": "m.npz", "prompt": "x", "first": 1.5, "last": 9}, "\"first\" must be a whole number"),
])
def test_sequence_and_edit_schema(request_fields, words):
    with pytest.raises(ValueError, match=words):
        parse_request(json.dumps({"id": "r", **request_fields}))
