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
from motion_core.worker import parse_request, serve


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    folder = tmp_path_factory.mktemp("weights")
    MotionGenerator.random(ModelConfig.tiny(), seed=0).save_pretrained(folder)
    return folder


def run_worker(lines):
    stdout = io.StringIO()
    code = serve(stdin=io.StringIO("".join(json.dumps(x) + "\n" if not isinstance(x, str) else x + "\n"
                                           for x in lines)), stdout=stdout)
    return code, [json.loads(line) for line in stdout.getvalue().splitlines()]


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
    assert os.path.isfile(second["path"]) and isinstance(second["seed"], int)  # out null: a scratch file
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
    assert events[-1] == {"id": None, "type": "bye"}  # end of input shuts down


def test_parse_request_rules():
    assert parse_request('{"id": 1, "type": "shutdown"}')["type"] == "shutdown"
    for bad in ('{"type": "x"}', '"load"', "{", '{"id": "c", "type": "cancel"}'):
        with pytest.raises(ValueError):
            parse_request(bad)


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
        event = next_event()
        while event["type"] == "progress":
            event = next_event()
        assert event == {"id": "g", "type": "cancelled"}
        send({"id": "s", "type": "shutdown"})
        assert next_event() == {"id": "s", "type": "bye"}
        assert process.wait(timeout=30) == 0
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
    assert [e["type"] for e in events if e["id"] in ("on", "off", "bad") and e["type"] != "progress"] == [
        "result", "result", "error"]
    bad = next(e for e in events if e["id"] == "bad")
    assert "foot_cleanup" in bad["message"] and "traceback" not in bad
