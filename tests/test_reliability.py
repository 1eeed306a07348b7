"""Reliability and security (issue 15): what a hostile or careless user can do to the worker, the add-on's backend
client and the file readers. Each test is a reproduction that failed before its fix.
"""

import json
import os
import re
import sys
import time
from pathlib import Path

import numpy as np
import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def tiny_weights(tmp_path_factory):
    pytest.importorskip("torch")
    from motion_core.generator import MotionGenerator
    from motion_core.models.config import ModelConfig

    folder = tmp_path_factory.mktemp("tiny_weights")
    MotionGenerator.random(ModelConfig.tiny(), seed=0).save_pretrained(folder)
    return folder


def backend_module():
    pytest.importorskip("bpy")  # blender_addon/__init__ imports bpy
    from blender_addon import backend

    return backend


# ------------------------------------------------------------------ 1. no code from the current folder in the worker

def _plant(folder: Path, marker: Path):
    """A numpy.py (and a sitecustomize.py) that would leave `marker` behind if the worker imported them."""
    for name in ("numpy.py", "sitecustomize.py", "usercustomize.py"):
        (folder / name).write_text(f"open({str(marker)!r}, 'a').write({name!r} + '\\n')\n")


@pytest.mark.parametrize("private", [False, True], ids=["external", "private"])
def test_worker_never_imports_modules_from_the_current_folder(tmp_path, tiny_weights, monkeypatch, private):
    backend = backend_module()
    planted = tmp_path / "downloaded_project"
    planted.mkdir()
    marker = tmp_path / "planted_code_ran.txt"
    _plant(planted, marker)
    deps = tmp_path / "deps"
    deps.mkdir()
    monkeypatch.chdir(planted)
    monkeypatch.setenv("PYTHONPATH", ".")  # a relative entry resolves against the worker's own empty folder
    config = backend.BackendConfig(mode="worker", python=sys.executable, weights=str(tiny_weights), device="cpu",
                                   extra_paths=(str(deps),) if private else ())
    worker = backend.WorkerBackend(config)
    try:
        job = worker.generate(backend.GenerateRequest(prompt="walk", seconds=1.0, seed=1, steps=1))
        assert job.wait(timeout=120) == backend.FINISHED, job.error
        assert job.result.joints.shape == (1, 20, 22, 3)
    finally:
        worker.close()
    assert not marker.exists(), marker.read_text()


# ------------------------------------------------------------------ 3. a hung worker never holds the add-on

def _stop_process(pid):
    """SIGSTOP `pid` and wait until it is stopped: the signal is asynchronous, and a worker that still runs for a
    moment could answer the cancel sent next (seen under load)."""
    import signal

    os.kill(pid, signal.SIGSTOP)
    stat = f"/proc/{pid}/stat"
    deadline = time.monotonic() + 5
    while os.path.exists(stat) and time.monotonic() < deadline:
        with open(stat) as f:
            if f.read().rsplit(")", 1)[1].split()[0] == "T":
                return
        time.sleep(0.01)
    time.sleep(0.2)  # no /proc (macOS): give the signal a moment


def _start_long_generation(backend, worker):
    job = worker.generate(backend.GenerateRequest(prompt="a person dances", seconds=9.8, seed=1, steps=1000))
    deadline = time.monotonic() + 120
    while job.poll() == backend.RUNNING and job.step < 1 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert job.step >= 1, job.error
    return job


@pytest.mark.skipif(not hasattr(os, "killpg") or sys.platform == "win32", reason="SIGSTOP is POSIX")
def test_a_stopped_worker_is_killed_by_the_watchdog_with_a_clear_message(tiny_weights, monkeypatch):
    backend = backend_module()
    monkeypatch.setattr(backend, "STALL_TIMEOUT_S", 6.0)
    worker = backend.WorkerBackend(backend.BackendConfig(mode="worker", weights=str(tiny_weights), device="cpu"))
    try:
        job = _start_long_generation(backend, worker)
        _stop_process(worker._process.pid)
        started = time.monotonic()
        assert job.wait(timeout=60) == backend.FAILED
        assert time.monotonic() - started < 30
        assert "stopped responding" in job.error and "unchanged" in job.error and "\n" not in job.error
        assert not worker.alive
    finally:
        worker.close()


@pytest.mark.skipif(sys.platform == "win32", reason="SIGSTOP is POSIX")
def test_esc_on_a_stopped_worker_cancels_within_seconds(tiny_weights, monkeypatch):
    backend = backend_module()
    monkeypatch.setattr(backend, "CANCEL_GRACE_S", 2.0)
    worker = backend.WorkerBackend(backend.BackendConfig(mode="worker", weights=str(tiny_weights), device="cpu"))
    try:
        job = _start_long_generation(backend, worker)
        _stop_process(worker._process.pid)
        job.cancel()
        started = time.monotonic()
        while job.poll() == backend.RUNNING and time.monotonic() - started < 30:
            time.sleep(0.05)
        assert job.state == backend.CANCELLED and job.result is None
        # A worker that cannot even answer a cancel is not reused: its watchdog (a 0.2-s loop, counting the grace
        # from when the cancel was written to the pipe) kills it just after the job gives up on it.
        deadline = time.monotonic() + 10
        while worker.alive and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not worker.alive
    finally:
        worker.close()


def test_esc_answered_by_a_live_worker_ends_the_job_at_once(tiny_weights):
    """The worker answers a cancel on its stdin thread; the job ends with that answer, without waiting for the
    sampler (which may be busy in a long load or step)."""
    backend = backend_module()
    worker = backend.WorkerBackend(backend.BackendConfig(mode="worker", weights=str(tiny_weights), device="cpu"))
    try:
        job = _start_long_generation(backend, worker)
        job.cancel()
        assert job.wait(timeout=30) == backend.CANCELLED
        assert worker.alive
        again = worker.generate(backend.GenerateRequest(prompt="walk", seconds=1.0, seed=1, steps=1))
        assert again.wait(timeout=60) == backend.FINISHED, again.error
    finally:
        worker.close()


HUNG_WORKER = "#!/bin/sh\nexec sleep 600\n"  # starts, reads nothing, answers nothing


@pytest.fixture
def addon(tmp_path, monkeypatch):
    bpy = pytest.importorskip("bpy")
    import addon_utils

    monkeypatch.setenv("MOTION_MAMBA_USER_DIR", str(tmp_path / "user"))
    bpy.ops.wm.read_factory_settings(use_empty=True)
    addon_utils.enable("blender_addon", default_set=True)
    yield bpy
    addon_utils.disable("blender_addon", default_set=True)


@pytest.mark.skipif(sys.platform == "win32", reason="a shell script stands in for the hung worker")
def test_blocking_execute_returns_when_the_worker_hangs(addon, tmp_path, monkeypatch):
    bpy = addon
    from blender_addon import backend

    monkeypatch.setattr(backend, "STALL_TIMEOUT_S", 2.0)
    hung = tmp_path / "python"
    hung.write_text(HUNG_WORKER)
    hung.chmod(0o755)
    prefs = bpy.context.preferences.addons["blender_addon"].preferences
    prefs.backend, prefs.python_path, prefs.device = "EXTERNAL", str(hung), "cpu"
    settings = bpy.context.scene.motion_mamba
    settings.prompt, settings.seconds, settings.target = "a person walks", 2.0, "NEW_RIG"
    objects = len(bpy.data.objects)
    started = time.monotonic()
    with pytest.raises(RuntimeError, match="stopped responding"):  # bpy.ops raises for a reported error
        bpy.ops.motion_mamba.generate()
    assert time.monotonic() - started < 30
    status = bpy.context.window_manager.motion_mamba_status
    assert "stopped responding" in status.last_error and not status.running
    assert len(bpy.data.objects) == objects


# ------------------------------------------------------------------ 4. the slider's own maximum is accepted

def test_the_float32_maximum_duration_is_accepted():
    pytest.importorskip("bpy")
    from types import SimpleNamespace

    from blender_addon import generation
    from motion_core.motion import protocol

    slider = float(np.float32(protocol.MAX_SECONDS))  # what a FloatProperty set to 9.8 reads back
    assert slider > protocol.MAX_SECONDS
    settings = SimpleNamespace(prompt="a person walks", seconds=slider, variations=1, randomize_seed=False, seed=3,
                               steps=2, guidance=7.5, foot_cleanup=True, sampler="ddim", candidates=1)
    request = generation.read_request(settings)
    assert request.seconds == protocol.MAX_SECONDS
    settings.seconds = float(np.float32(protocol.MIN_SECONDS - 0.01))
    with pytest.raises(generation.MotionError, match="Duration"):
        generation.read_request(settings)


# ------------------------------------------------------------------ 5. malformed skeletons end, with one line

def finishes(function, *args, timeout=20.0):
    """Run function(*args) on a thread; fail (instead of hanging the suite) when it does not end in `timeout`.
    Returns ("ok", value) or ("raised", exception)."""
    import threading

    outcome = []

    def run():
        try:
            outcome.append(("ok", function(*args)))
        except BaseException as error:  # noqa: BLE001 - the test inspects whatever came out
            outcome.append(("raised", error))

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(timeout)
    assert outcome, f"{function.__name__} hung"
    return outcome[0]


TINY_ASF = """:version 1.10
:name tiny
:units
  length 0.45
  angle deg
:root
   order TX TY TZ RX RY RZ
   axis XYZ
   position 0 0 0
   orientation 0 0 0
:bonedata
  begin
     name a
     direction 0 1 0
     length 2
     axis 0 0 0 XYZ
    dof rx ry rz
  end
  begin
     name b
     direction 1 0 0
     length 1
     axis 0 0 0 XYZ
    dof rx
  end
:hierarchy
  begin
{hierarchy}
  end
"""


@pytest.mark.parametrize("hierarchy, words", [
    ("    root a\n    a b\n    b a", "cycle"),
    ("    root a\n    a a", "cycle"),
    ("    root a b\n    a b", "twice"),
    ("    root root", "cycle"),
])
def test_asf_hierarchy_cycles_are_one_line_errors(tmp_path, hierarchy, words):
    from motion_core.errors import MotionError
    from motion_core.motion.asf_amc import read_asf

    path = tmp_path / "cycle.asf"
    path.write_text(TINY_ASF.replace("{hierarchy}", hierarchy))
    kind, value = finishes(read_asf, path)
    assert kind == "raised" and isinstance(value, MotionError), value
    assert words in str(value) and "\n" not in str(value)


def _smpl_npz(path, parents):
    joints = len(parents)
    rng = np.random.default_rng(0)
    vertices = rng.normal(size=(joints * 2, 3))
    weights = np.zeros((len(vertices), joints))
    weights[np.arange(len(vertices)), np.arange(len(vertices)) % joints] = 1.0
    regressor = np.zeros((joints, len(vertices)))
    regressor[np.arange(len(vertices)) % joints, np.arange(len(vertices))] = 0.5
    kintree = np.stack([np.asarray(parents, dtype=np.int64), np.arange(joints)])
    np.savez(path, v_template=vertices, f=np.array([[0, 1, 2]]), weights=weights, J_regressor=regressor,
             kintree_table=kintree)
    return str(path)


SMPL_PARENTS = [-1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19, 20, 21]


@pytest.mark.parametrize("parents, words", [
    (SMPL_PARENTS[:22] + [23, 22], "parent"),  # joints 22 and 23 are each other's parent
    (SMPL_PARENTS[:22] + [20, 99], "parent"),  # out of range
    (SMPL_PARENTS[:22] + [20, -5], "parent"),
])
def test_smpl_kintree_cycles_and_bad_parents_are_one_line_errors(tmp_path, parents, words):
    pytest.importorskip("bpy")
    from blender_addon.smpl_body import MotionError, load_smpl_model

    kind, value = finishes(load_smpl_model, _smpl_npz(tmp_path / "body.npz", parents))
    assert kind == "raised" and isinstance(value, MotionError), value
    assert words in str(value) and "\n" not in str(value)


def test_a_good_smpl_layout_still_loads(tmp_path):
    pytest.importorskip("bpy")
    from blender_addon.smpl_body import load_smpl_model

    parents = [4294967295] + SMPL_PARENTS[1:]  # SMPL files store the root's parent as uint32 -1
    model = load_smpl_model(_smpl_npz(tmp_path / "body.npz", parents))
    assert model.weights.shape == (48, 22) and np.allclose(model.weights.sum(axis=1), 1.0)


@pytest.mark.parametrize("mangle, words", [
    (lambda d: d.update(kintree_table=np.zeros(5, dtype=np.int64)), "kintree_table"),
    (lambda d: d.update(weights=np.zeros(48)), "weights"),
    (lambda d: d.update(f=np.array([[0, 1, 4800]])), "faces"),
    (lambda d: d.update(v_template=np.full((48, 3), np.nan)), "finite"),
])
def test_smpl_files_with_wrong_shapes_are_one_line_errors(tmp_path, mangle, words):
    pytest.importorskip("bpy")
    from blender_addon.smpl_body import MotionError, load_smpl_model

    with np.load(_smpl_npz(tmp_path / "good.npz", [-1] + SMPL_PARENTS[1:])) as data:
        arrays = dict(data)
    mangle(arrays)
    np.savez(tmp_path / "bad.npz", **arrays)
    kind, value = finishes(load_smpl_model, str(tmp_path / "bad.npz"))
    assert kind == "raised" and isinstance(value, MotionError), repr(value)
    assert words in str(value) and "\n" not in str(value)


# ------------------------------------------------------------------ 6. outputs: checked before the work, atomic

def _walk_joints(frames=10):
    from motion_core.motion.skeleton import PARENTS, T2M_OFFSETS

    rest = np.zeros((22, 3))
    for j, p in enumerate(PARENTS):
        if p >= 0:
            rest[j] = rest[p] + np.asarray(T2M_OFFSETS)[j]
    joints = np.repeat(rest[None], frames, axis=0)
    joints[:, :, 2] += np.linspace(0.0, 0.5, frames)[:, None]
    return joints


@pytest.mark.parametrize("suffix", [".bvh", ".npz"])
def test_a_failed_write_leaves_the_users_file_as_it_was(tmp_path, monkeypatch, suffix):
    """A full disk in the middle of writing: the old file stays whole, no temporary file is left, one line."""
    import errno

    from motion_core.errors import MotionError
    from motion_core.motion import export

    out = tmp_path / f"take{suffix}"
    out.write_bytes(b"precious")

    def full_disk(path, *args, **kwargs):
        with open(path, "wb") as handle:
            handle.write(b"half a fi")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(export, "write_bvh", full_disk)
    monkeypatch.setattr(export.np, "savez", full_disk)
    with pytest.raises(MotionError) as info:
        export.save_motion(out, _walk_joints(), 20.0)
    assert "No space left" in str(info.value) and "\n" not in str(info.value)
    assert out.read_bytes() == b"precious"
    assert sorted(p.name for p in tmp_path.iterdir()) == [out.name]


def _unwritable_outputs(tmp_path):
    folder_named_like_a_file = tmp_path / "is_a_folder.bvh"
    folder_named_like_a_file.mkdir()
    cases = {
        "folder": (str(folder_named_like_a_file), "folder"),
        "too long": (str(tmp_path / ("x" * 300 + ".bvh")), "too long"),
        "no folder": (str(tmp_path / "missing" / "a.bvh"), "does not exist"),
    }
    if hasattr(os, "geteuid") and os.geteuid() != 0:  # root may write anywhere
        locked = tmp_path / "locked"
        locked.mkdir()
        locked.chmod(0o500)
        cases["permission"] = (str(locked / "a.bvh"), "ermission")
    return cases


@pytest.mark.parametrize("case", ["folder", "too long", "no folder", "permission"])
def test_generate_rejects_unwritable_outputs_before_generating(tmp_path, monkeypatch, capsys, case):
    pytest.importorskip("torch")
    from motion_core import cli
    from motion_core.generator import MotionGenerator

    cases = _unwritable_outputs(tmp_path)
    if case not in cases:
        pytest.skip("running as root: permissions do not apply")
    out, words = cases[case]

    def must_not_load(*args, **kwargs):
        raise AssertionError("the model was loaded before the output was checked")

    monkeypatch.setattr(MotionGenerator, "from_pretrained", must_not_load)
    assert cli.main(["generate", "a person walks", "--seconds", "2", "--out", out]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and words in err and "\n" not in err


def test_generate_checks_every_variation_file_before_generating(tmp_path, monkeypatch, capsys):
    pytest.importorskip("torch")
    from motion_core import cli
    from motion_core.generator import MotionGenerator

    (tmp_path / "walk_2.npz").mkdir()  # the third variation's file name is taken by a folder
    monkeypatch.setattr(MotionGenerator, "from_pretrained",
                        lambda *a, **k: (_ for _ in ()).throw(AssertionError("loaded before checking outputs")))
    assert cli.main(["generate", "walk", "--seconds", "2", "--variations", "3",
                     "--out", str(tmp_path / "walk.npz")]) == 2
    assert "walk_2.npz" in capsys.readouterr().err


def test_worker_rejects_an_unwritable_out_before_sampling(tiny_weights, tmp_path):
    import io

    from motion_core.worker import serve

    (tmp_path / "dir.npz").mkdir()
    requests = [
        {"id": "l", "type": "load", "weights": str(tiny_weights), "device": "cpu"},
        {"id": "g", "type": "generate", "prompt": "walk", "seconds": 1.0, "steps": 3, "out": str(tmp_path / "dir.npz")},
        {"id": "s", "type": "shutdown"},
    ]
    stdout = io.StringIO()
    serve(stdin=io.StringIO("".join(json.dumps(r) + "\n" for r in requests)), stdout=stdout)
    events = [json.loads(line) for line in stdout.getvalue().splitlines() if '"g"' in line]
    assert [e["type"] for e in events] == ["error"]  # no progress: refused before sampling
    assert "folder" in events[0]["message"] and "traceback" not in events[0]


def test_import_and_preview_check_their_outputs_first(tmp_path, capsys):
    from motion_core import cli

    bvh = next((REPO_ROOT / "tests" / "data" / "cmu").rglob("*.bvh"))
    for command in (["import", str(bvh), "--out", str(tmp_path / "missing" / "a.npz")],
                    ["preview", str(bvh), "--out", str(tmp_path / "sheet.xyz")],
                    ["preview", str(bvh), "--out", str(tmp_path)]):
        assert cli.main(command) == 2, command
        err = capsys.readouterr().err.strip()
        assert err.startswith("error: ") and "\n" not in err, err


# ------------------------------------------------------------------ 7. one line, never a traceback

def _cmu_bvh_text():
    return (REPO_ROOT / "tests" / "data" / "cmu" / "bvh-mb" / "02_01.bvh").read_text()


def _with_first_motion_value(text, value):
    head, sep, tail = text.partition("\nMOTION")
    lines = tail.split("\n")
    numbers = lines[3].split()
    numbers[4] = value
    lines[3] = " ".join(numbers)
    return head + sep + "\n".join(lines)


@pytest.mark.parametrize("mangle, words", [
    (lambda t: t.replace("CHANNELS 6", "CHANNELS", 1), "CHANNELS"),
    (lambda t: t.replace("CHANNELS 3", "CHANNELS", 1), "CHANNELS"),
    (lambda t: _with_first_motion_value(t, "1e308"), "absurd"),
    (lambda t: _with_first_motion_value(t, "-3e200"), "absurd"),
    (lambda t: t.replace("OFFSET 1.363060 -1.794630", "OFFSET 1e300 -1.794630", 1), "absurd"),
])
def test_malformed_bvh_numbers_and_channel_lines_are_one_line_errors(tmp_path, capsys, mangle, words):
    from motion_core import cli

    path = tmp_path / "bad.bvh"
    path.write_text(mangle(_cmu_bvh_text()))
    assert cli.main(["import", str(path), "--json"]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.startswith("error: ") and captured.err.count("\n") == 1
    assert words in captured.err


def test_a_joint_named_like_a_keyword_imports(tmp_path, capsys):
    from motion_core import cli

    text = _cmu_bvh_text().replace("JOINT Neck\n", "JOINT MOTIONNeck\n").replace("JOINT Neck ", "JOINT MOTIONNeck ")
    assert "MOTIONNeck" in text
    path = tmp_path / "named.bvh"
    path.write_text(text)
    code = cli.main(["import", str(path), "--json"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    report = json.loads(captured.out)
    assert report["frames"] > 0 and np.isfinite(report["height_m"])


@pytest.mark.parametrize("arrays, words", [
    ({"joints": np.full((5, 22, 3), np.nan, np.float32), "fps": 20.0}, "finite"),
    ({"joints": np.zeros((5, 22, 3), np.float32), "fps": 0.0}, "fps"),
    ({"joints": np.zeros((5, 22, 3), np.float32), "fps": np.nan}, "fps"),
    ({"joints": np.zeros((5, 22, 3), np.float32), "fps": np.zeros(3)}, "fps"),
])
def test_preview_of_bad_motion_files_is_one_line(tmp_path, capsys, arrays, words):
    from motion_core import cli

    path = tmp_path / "clip.npz"
    np.savez(path, **arrays)
    assert cli.main(["preview", str(path), "--out", str(tmp_path / "sheet.png")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and words in err
    assert not (tmp_path / "sheet.png").exists()


@pytest.mark.parametrize("value", ["nan", "inf", "1e308"])
def test_amc_values_that_are_not_finite_are_one_line_errors(tmp_path, value):
    from motion_core.errors import MotionError
    from motion_core.motion.asf_amc import read_amc, read_asf

    asf = tmp_path / "tiny.asf"
    asf.write_text(TINY_ASF.replace("{hierarchy}", "    root a\n    a b"))
    frames = "".join(f"{i}\nroot 0 0 0 0 0 0\na 1 2 3\nb 4\n" for i in range(1, 6))
    amc = tmp_path / "tiny_01.amc"
    amc.write_text(":FULLY-SPECIFIED\n:DEGREES\n" + frames.replace("a 1 2 3", f"a 1 {value} 3", 1))
    with pytest.raises(MotionError, match="AMC frame 1") as info:
        read_amc(amc, read_asf(asf))
    assert "\n" not in str(info.value)


def test_a_prompt_that_is_not_utf8_is_a_one_line_error(tiny_weights, tmp_path, capsys):
    """Bytes that are not UTF-8 on the command line arrive as lone surrogates (Python's surrogateescape)."""
    import io

    from motion_core import cli
    from motion_core.worker import serve

    prompt = os.fsdecode(b"a person walks \xff\xfe")
    assert cli.main(["generate", prompt, "--seconds", "1", "--steps", "1", "--weights", str(tiny_weights),
                     "--out", str(tmp_path / "a.npz")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and "UTF-8" in err
    requests = [{"id": "l", "type": "load", "weights": str(tiny_weights), "device": "cpu"},
                {"id": "g", "type": "generate", "prompt": prompt, "seconds": 1.0, "steps": 1},
                {"id": "s", "type": "shutdown"}]
    stdout = io.StringIO()
    serve(stdin=io.StringIO("".join(json.dumps(r) + "\n" for r in requests)), stdout=stdout)
    event = next(json.loads(line) for line in stdout.getvalue().splitlines() if '"g"' in line)
    assert event["type"] == "error" and "UTF-8" in event["message"] and "traceback" not in event


def _edited_weights(tiny_weights, tmp_path, edit):
    import shutil

    folder = tmp_path / "edited"
    shutil.copytree(tiny_weights, folder)
    config = json.loads((folder / "config.json").read_text())
    edit(config)
    (folder / "config.json").write_text(json.dumps(config))
    return folder


@pytest.mark.parametrize("edit, words", [
    (lambda c: c["vae"].update(num_heads=3), "num_heads"),  # 32 channels do not split into 3 heads
    (lambda c: c["denoiser"].update(mixer_heads=5), "mixer_heads"),
    (lambda c: c["vae"].update(num_heads=0), "num_heads"),
    (lambda c: c["vae"].update(latent_dim=-4), "latent_dim"),
    (lambda c: c["denoiser"].update(levels=0), "levels"),
    (lambda c: c["denoiser"].update(d_state=10 ** 9), "d_state"),
    (lambda c: c["vae"].update(dropout=1.5), "dropout"),
    (lambda c: c["diffusion"].update(num_train_timesteps=0), "num_train_timesteps"),
    (lambda c: c["text"].update(max_tokens=1), "max_tokens"),
])
def test_bad_config_values_are_one_line_errors_before_building(tiny_weights, tmp_path, edit, words):
    from motion_core.errors import MotionError
    from motion_core.generator import MotionGenerator

    folder = _edited_weights(tiny_weights, tmp_path, edit)
    with pytest.raises(MotionError) as info:
        MotionGenerator.from_pretrained(folder)
    assert words in str(info.value) and "\n" not in str(info.value)


def test_a_config_that_changes_the_model_but_not_the_tensor_shapes_is_refused(tiny_weights, tmp_path):
    """num_heads 2 -> 4 keeps every weight's shape (32 channels either way) but runs a different model."""
    from motion_core.errors import MotionError
    from motion_core.generator import MotionGenerator

    folder = _edited_weights(tiny_weights, tmp_path, lambda c: c["vae"].update(num_heads=4))
    with pytest.raises(MotionError, match="num_heads") as info:
        MotionGenerator.from_pretrained(folder)
    assert "\n" not in str(info.value)
    # Settings that only matter in training (dropout, loss weights) may differ.
    folder = _edited_weights(tiny_weights, tmp_path / "b", lambda c: c["vae"].update(dropout=0.3, lambda_kl=1e-3))
    MotionGenerator.from_pretrained(folder)


def test_a_huge_config_is_refused_before_allocating(tiny_weights, tmp_path):
    """latent_dim 60000 would allocate tens of GB for the attention weights before the files were even compared."""
    import subprocess

    folder = _edited_weights(tiny_weights, tmp_path, lambda c: (c["vae"].update(latent_dim=60000),
                                                                c["denoiser"].update(latent_dim=60000)))
    child = (
        "import resource, sys\n"
        "resource.setrlimit(resource.RLIMIT_AS, (12 * 2**30, 12 * 2**30))  # a safety net for this shared machine\n"
        "from motion_core.errors import MotionError\n"
        "from motion_core.generator import MotionGenerator\n"
        "try:\n"
        f"    MotionGenerator.from_pretrained({str(folder)!r})\n"
        "except MotionError as error:\n"
        "    print('MotionError', error)\n"
        "print('peak_mb', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024)\n"
    )
    result = subprocess.run([sys.executable, "-c", child], capture_output=True, text=True, timeout=300,
                            cwd=str(REPO_ROOT))
    assert "MotionError" in result.stdout and "does not match" in result.stdout, result.stdout + result.stderr[-2000:]
    peak = int(result.stdout.split("peak_mb")[1])
    assert peak < 2000, peak


MB_MAP = {"left_hip": "LeftUpLeg", "right_hip": "RightUpLeg", "left_knee": "LeftLeg", "right_knee": "RightLeg",
          "left_ankle": "LeftFoot", "right_ankle": "RightFoot", "left_foot": "LeftToeBase",
          "right_foot": "RightToeBase", "left_shoulder": "LeftArm", "right_shoulder": "RightArm",
          "left_elbow": "LeftForeArm", "right_elbow": "RightForeArm", "left_wrist": "LeftHand",
          "right_wrist": "RightHand", "neck": "Neck1", "head": "Head"}


@pytest.mark.parametrize("entry, words", [
    ({"Head": 0}, "weight"),
    ({"Head": 0.0, "Neck1": 0.0}, "weight"),
    ({"Head": float("nan")}, "weight"),
    ({"Head": float("inf")}, "weight"),
    ({"Head": -1.0}, "weight"),
])
def test_bone_map_weights_must_be_positive_finite_numbers(tmp_path, capsys, entry, words):
    from motion_core import cli

    bone_map = dict(MB_MAP, head=entry)
    path = tmp_path / "map.json"
    path.write_text(json.dumps(bone_map))  # json writes NaN / Infinity, which Python's reader accepts
    bvh = REPO_ROOT / "tests" / "data" / "cmu" / "bvh-mb" / "02_01.bvh"
    assert cli.main(["import", str(bvh), "--map", str(path), "--json"]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.startswith("error: ") and captured.err.count("\n") == 1
    assert words in captured.err and "head" in captured.err


def test_a_good_weighted_bone_map_still_imports(tmp_path, capsys):
    from motion_core import cli

    path = tmp_path / "map.json"
    path.write_text(json.dumps(dict(MB_MAP, head={"Head": 0.5, "Neck1": 0.5})))
    bvh = REPO_ROOT / "tests" / "data" / "cmu" / "bvh-mb" / "02_01.bvh"
    assert cli.main(["import", str(bvh), "--map", str(path), "--json"]) == 0, capsys.readouterr().err


# ------------------------------------------------------------------ 8. temporary files are removed

def test_worker_scratch_folder_is_made_on_demand_and_removed_at_exit(tiny_weights, tmp_path, monkeypatch):
    import io
    import tempfile

    from motion_core.worker import serve

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))

    def run(requests):
        stdout = io.StringIO()
        serve(stdin=io.StringIO("".join(json.dumps(r) + "\n" for r in requests)), stdout=stdout)
        return [json.loads(line) for line in stdout.getvalue().splitlines()]

    run([{"id": "s", "type": "shutdown"}])
    assert list(tmp_path.iterdir()) == []  # nothing needed a scratch file: no folder at all
    events = run([{"id": "l", "type": "load", "weights": str(tiny_weights), "device": "cpu"},
                  {"id": "g", "type": "generate", "prompt": "walk", "seconds": 1.0, "steps": 1},
                  {"id": "s", "type": "shutdown"}])
    path = Path(next(e["path"] for e in events if e["type"] == "result"))
    assert path.parent.parent == tmp_path and not path.parent.exists()


def test_worker_backend_removes_its_files(tiny_weights):
    backend = backend_module()
    worker = backend.WorkerBackend(backend.BackendConfig(mode="worker", weights=str(tiny_weights), device="cpu"))
    folder = Path(worker._out_dir)
    try:
        job = worker.generate(backend.GenerateRequest(prompt="walk", seconds=1.0, seed=1, steps=1))
        assert job.wait(timeout=120) == backend.FINISHED, job.error
        assert list(folder.iterdir()) == []  # the result was read into memory and its file removed
    finally:
        worker.close()
    assert not folder.exists()


def test_a_result_that_comes_after_esc_leaves_no_file(tmp_path):
    import threading

    backend = backend_module()
    from motion_core.motion.clip import Motion

    release = threading.Event()

    class Slow:  # finishes only after Esc, as a sampler that was past its last cancel check would
        def generate(self, prompt, seconds, **_):
            release.wait(30)
            return Motion(joints=np.zeros((1, 20, 22, 3), np.float32), prompt=prompt, seed=1)

    in_process = backend.InProcessBackend(backend.BackendConfig(mode="in_process"))
    in_process._generator = Slow()
    out = tmp_path / "motion_late.npz"
    job = in_process.generate(backend.GenerateRequest(prompt="walk", seconds=1.0, seed=1, out=str(out)))
    job.cancel()
    release.set()
    assert job.wait(timeout=30) == backend.CANCELLED and job.result is None
    assert not out.exists()


def test_deleting_a_result_removes_its_cached_file_but_never_other_files(addon, tmp_path):
    bpy = addon
    from blender_addon import prefs

    settings = bpy.context.scene.motion_mamba
    cached = Path(prefs.results_folder()) / "motion_test_1.npz"
    np.savez(cached, joints=np.zeros((1, 5, 22, 3), np.float32))
    outsider = tmp_path / "users_own_file.npz"  # a .blend is untrusted: its paths may point anywhere
    outsider.write_bytes(b"keep me")
    for path in (str(cached), str(cached), str(outsider)):
        item = settings.results.add()
        item.path = path
    assert bpy.ops.motion_mamba.delete_result(index=0) == {"FINISHED"}
    assert cached.exists()  # still used by the next row (variations share one file)
    assert bpy.ops.motion_mamba.delete_result(index=0) == {"FINISHED"}
    assert not cached.exists()
    assert bpy.ops.motion_mamba.delete_result(index=0) == {"FINISHED"}
    assert outsider.read_bytes() == b"keep me" and len(settings.results) == 0


def test_a_full_disk_while_writing_a_result_is_one_line_and_leaves_no_file(addon, monkeypatch):
    import errno

    from blender_addon import backend, generation
    from motion_core.motion import protocol
    from motion_core.motion.clip import Motion

    def full_disk(path, **arrays):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    class StandIn:
        def generate(self, prompt, seconds, **_):
            return Motion(joints=np.zeros((1, 20, 22, 3), np.float32), prompt=prompt, seed=1)

    monkeypatch.setattr(protocol.np, "savez", full_disk)
    in_process = backend.InProcessBackend(backend.BackendConfig(mode="in_process"))
    in_process._generator = StandIn()
    out = generation.new_result_path(1)
    job = in_process.generate(backend.GenerateRequest(prompt="walk", seconds=1.0, seed=1, out=out))
    assert job.wait(timeout=30) == backend.FAILED
    assert "No space left" in job.error and "\n" not in job.error
    assert os.listdir(os.path.dirname(out)) == []


# ------------------------------------------------------------------ 9. the installer: one index per set, all pinned

def test_installer_uses_one_index_per_set_and_pins_everything(tmp_path):
    pytest.importorskip("bpy")
    from blender_addon import deps

    installer = deps.Installer(str(tmp_path / "backend"), deps.install_plan("cu128"), variant="cu128")
    assert len(installer.commands) == 2
    for command in installer.commands:
        assert "--extra-index-url" not in command and "--upgrade" not in command
        assert command.count("--index-url") == 1
        assert command[command.index("--only-binary") + 1] == ":all:"  # no setup.py runs at install time
    torch_run, pypi_run = installer.commands
    assert torch_run[torch_run.index("--index-url") + 1] == "https://download.pytorch.org/whl/cu128"
    assert pypi_run[pypi_run.index("--index-url") + 1] == "https://pypi.org/simple"
    assert "--no-deps" in pypi_run  # the list is the whole closure: nothing is resolved, nothing floats
    packages = [arg for arg in pypi_run if "==" in arg]
    assert len(packages) > 20 and all(re.match(r"^[A-Za-z0-9_.-]+==[0-9][^ ;]*(; .+)?$", p) for p in packages)
    assert not any(p.lower().startswith(("torch==", "numpy==")) for p in packages)
    for line in (REPO_ROOT / "requirements.txt").read_text().splitlines():  # every top-level pin is in the lock
        pin = line.split("#", 1)[0].strip()
        if pin and pin.split("==")[0] not in ("torch", "numpy", "matplotlib"):
            assert pin in packages, pin


def test_a_failed_install_leaves_the_working_backend_as_it_was(tmp_path):
    pytest.importorskip("bpy")
    sys.path.insert(0, str(REPO_ROOT / "tests"))
    from test_addon_installer import make_wheel

    from blender_addon import deps

    wheels = tmp_path / "wheels"
    wheels.mkdir()
    make_wheel(wheels, "mm_first", "1.0")
    make_wheel(wheels, "mm_second", "1.0")
    target = tmp_path / "backend"
    target.mkdir()
    (target / "working.txt").write_text("the backend that works today")
    local = ["--no-index", "--find-links", str(wheels)]
    plan = [deps.PackageSet(deps.PYPI_INDEX, ["mm_first==1.0"], deps=True),
            deps.PackageSet(deps.PYPI_INDEX, ["mm_missing==1.0"], deps=False)]
    state, _, message = deps.Installer(str(target), plan, extra_args=local).start().wait(timeout=600)
    assert state == "FAILED" and "no matching package" in message
    assert sorted(p.name for p in target.iterdir()) == ["working.txt"]
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith("backend")] == ["backend"]
    plan[1] = deps.PackageSet(deps.PYPI_INDEX, ["mm_second==1.0"], deps=False)
    state, _, message = deps.Installer(str(target), plan, extra_args=local).start().wait(timeout=600)
    assert state == "FINISHED", message
    assert (target / "mm_first").is_dir() and (target / "mm_second").is_dir()
    assert not (target / "working.txt").exists()  # replaced as a whole, never mixed
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith("backend")] == ["backend"]


# ------------------------------------------------------------------ fuzz: every reader ends in a result or one line

FUZZ_TOKENS = ["nan", "inf", "-inf", "1e308", "-1e400", "99999999999999999999", "0", "-1", "", "{", "}", "ROOT",
               "JOINT", "End", "Site", "OFFSET", "CHANNELS", "6", "Xrotation", "MOTION", "Frames:", "Frame", "Time:",
               "begin", "end", ":hierarchy", ":bonedata", "root", "a", "b", "dof", "rx", "length", "direction",
               "\u00e9", "\ufffd", "#", ":", "1", "2", "3"]


def _mutate(text, rng):
    lines = text.split("\n")
    for _ in range(int(rng.integers(1, 4))):
        lines = lines or [""]
        kind = int(rng.integers(0, 6))
        i = int(rng.integers(0, len(lines)))
        if kind == 0 and len(lines) > 1:
            del lines[i]
        elif kind == 1:
            lines.insert(i, lines[int(rng.integers(0, len(lines)))])
        elif kind == 2:
            words = lines[i].split() or [""]
            words[int(rng.integers(0, len(words)))] = str(rng.choice(FUZZ_TOKENS))
            lines[i] = " ".join(words)
        elif kind == 3:
            j = int(rng.integers(0, len(lines)))
            lines[i], lines[j] = lines[j], lines[i]
        elif kind == 4:
            lines = lines[:i]
        else:
            lines.insert(i, " ".join(str(rng.choice(FUZZ_TOKENS)) for _ in range(int(rng.integers(1, 6)))))
    return "\n".join(lines)


def _fuzz(cases, run, timeout=120.0):
    """run(case) must return, or raise MotionError with one line; anything else (or a hang) fails, naming the case."""
    from motion_core.errors import MotionError

    def all_cases():
        failures = []
        for n, case in enumerate(cases):
            try:
                run(case)
            except MotionError as error:
                if "\n" in str(error) or not str(error):
                    failures.append((n, f"message not one line: {error!r}"))
            except Exception as error:  # noqa: BLE001 - the point: nothing else may escape
                failures.append((n, f"{type(error).__name__}: {error}"))
        return failures

    kind, failures = finishes(all_cases, timeout=timeout)
    assert kind == "ok", failures
    assert not failures, failures[:5]


def _small_bvh():
    text = _cmu_bvh_text().replace("\r", "")
    head, _, tail = text.partition("\nMOTION\n")
    rows = tail.split("\n")
    return head + "\nMOTION\nFrames: 8\n" + rows[1] + "\n" + "\n".join(rows[2:10]) + "\n"


def test_fuzz_bvh_import(tmp_path):
    from motion_core.motion.mocap import import_motion

    rng = np.random.default_rng(15)
    base = _small_bvh()
    path = tmp_path / "fuzz.bvh"

    def run(text):
        path.write_text(text, encoding="utf-8")
        motion = import_motion(path)
        assert np.all(np.isfinite(motion.joints)) and motion.joints.shape[1:] == (22, 3)

    _fuzz([base] + [_mutate(base, rng) for _ in range(150)], run)


def test_fuzz_asf_amc(tmp_path):
    from motion_core.motion.asf_amc import local_transforms, read_amc, read_asf

    rng = np.random.default_rng(16)
    asf_text = TINY_ASF.replace("{hierarchy}", "    root a\n    a b")
    amc_text = ":FULLY-SPECIFIED\n:DEGREES\n" + "".join(f"{i}\nroot 0 0 0 0 0 0\na 1 2 3\nb 4\n" for i in range(1, 6))
    asf, amc = tmp_path / "t.asf", tmp_path / "t_01.amc"

    def run(pair):
        asf.write_text(pair[0], encoding="utf-8")
        amc.write_text(pair[1], encoding="utf-8")
        skeleton = read_asf(asf)
        local_transforms(skeleton, read_amc(amc, skeleton))

    cases = [(asf_text, amc_text)]
    cases += [(_mutate(asf_text, rng), amc_text) for _ in range(100)]
    cases += [(asf_text, _mutate(amc_text, rng)) for _ in range(100)]
    _fuzz(cases, run)


def _random_value(rng, depth=0):
    kind = int(rng.integers(0, 9 if depth < 2 else 7))
    makers = [lambda: None, lambda: True, lambda: float(rng.choice([np.nan, np.inf, 1e308, -3.5, 0.0, 2.0])),
              lambda: int(rng.integers(-5, 10 ** 6)),
              lambda: str(rng.choice(["", "g", "walk", "cuda", "x" * 300, "/nonexistent/a.npz", "\udcff"])),
              lambda: 10 ** 50, lambda: "g1", lambda: [_random_value(rng, depth + 1)],
              lambda: {"k": _random_value(rng, depth + 1)}]
    return makers[kind]()


def test_fuzz_worker_request_lines():
    """Random request lines on the stdin side: each gets at most one answer, the reader survives, nothing stays
    remembered, and whatever reaches the queue passed the schema."""
    import io

    from motion_core.worker import REQUEST_TYPES, Worker, _Protocol

    rng = np.random.default_rng(17)
    fields = ["id", "type", "prompt", "seconds", "seed", "steps", "guidance", "variations", "out", "target",
              "weights", "device", "foot_cleanup", "segments"]
    lines = []
    for n in range(400):
        request = {name: _random_value(rng) for name in fields if rng.random() < 0.5}
        if rng.random() < 0.7:
            request["type"] = str(rng.choice(["generate", "cancel", "load", "dance"]))
        if rng.random() < 0.6:
            request["id"] = f"r{n}"
        elif isinstance(request.get("id"), str):
            request["id"] = f"s{n}"  # ids unique per line, so "one answer per id" is checkable
        line = json.dumps(request, allow_nan=True)
        if rng.random() < 0.1:
            line = line[: int(rng.integers(0, len(line) + 1))]
        lines.append(line.encode("utf-8", "surrogatepass") if rng.random() < 0.9 else b"\xff\xfe" + b"{")
    stdout = io.StringIO()
    worker = Worker(_Protocol(stdout))
    kind, value = finishes(worker.read_requests, io.BytesIO(b"\n".join(lines) + b"\n"))
    assert kind == "ok", value
    events = [json.loads(line) for line in stdout.getvalue().splitlines()]
    answered = [e["id"] for e in events if e["id"] is not None]
    assert len(answered) == len(set(answered))  # at most one answer per id on the reader side
    assert all("traceback" not in e for e in events)
    queued = []
    while not worker.jobs.empty():
        queued.append(worker.jobs.get())
    assert queued[-1] == {"id": None, "type": "shutdown"}  # end of input
    for request in queued[:-1]:
        assert request["type"] in REQUEST_TYPES and isinstance(request["id"], str)
        assert request["id"] not in answered
    assert worker.cancelled == worker.pending  # end of input cancels all that is still queued


def test_fuzz_motion_npz_for_preview(tmp_path):
    from motion_core.commands.preview import load_joints

    rng = np.random.default_rng(18)
    path = tmp_path / "m.npz"
    shapes = [(5, 22, 3), (2, 5, 22, 3), (0, 22, 3), (5, 21, 3), (22, 3), (5,), ()]
    values = [0.0, np.nan, np.inf, 1e308]
    dtypes = [np.float32, np.float64, np.int64, np.bool_, "U3"]

    def run(case):
        arrays = {}
        if case["joints"]:
            shape, dtype, value = case["joints"]
            arrays["joints"] = np.full(shape, value if dtype != "U3" else "a", dtype=dtype)
        if case["fps"] is not None:
            arrays["fps"] = case["fps"]
        np.savez(path, **arrays)
        joints, fps = load_joints(path)
        assert np.all(np.isfinite(joints)) and fps > 0

    cases = []
    for _ in range(120):
        cases.append({"joints": None if rng.random() < 0.1 else (shapes[int(rng.integers(0, len(shapes)))],
                                                                dtypes[int(rng.integers(0, len(dtypes)))],
                                                                values[int(rng.integers(0, len(values)))]),
                      "fps": [None, 0.0, -1.0, np.nan, 20.0, np.zeros(2), "x"][int(rng.integers(0, 7))]})
    _fuzz(cases, run)


def test_fuzz_smpl_model_files(tmp_path):
    pytest.importorskip("bpy")
    from blender_addon.smpl_body import load_smpl_model

    rng = np.random.default_rng(19)
    with np.load(_smpl_npz(tmp_path / "good.npz", [-1] + SMPL_PARENTS[1:])) as data:
        base = dict(data)
    path = tmp_path / "fuzz.npz"

    def run(arrays):
        np.savez(path, **arrays)
        model = load_smpl_model(str(path))
        assert model.weights.shape[1] == 22 and np.all(np.isfinite(model.joints))

    cases = [base]
    for _ in range(150):
        arrays = dict(base)
        key = list(arrays)[int(rng.integers(0, len(arrays)))]
        kind, value = int(rng.integers(0, 6)), arrays[key]
        if kind == 0:
            arrays.pop(key)
        elif kind == 1:
            arrays[key] = np.full(value.shape, [np.nan, np.inf, -1, 1e300, 10 ** 9][int(rng.integers(0, 5))])
        elif kind == 2:
            arrays[key] = value.reshape(-1)
        elif kind == 3:
            arrays[key] = value[..., :max(1, value.shape[-1] - 1)]
        elif kind == 4:
            arrays[key] = value.astype(str)
        else:
            arrays[key] = np.zeros((0,) + value.shape[1:], value.dtype)
        cases.append(arrays)
    _fuzz(cases, run)
