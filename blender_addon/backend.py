"""Generation backends: a worker subprocess (JSON lines) or an in-process generator, behind one interface.

Both return a `Job` for each request. Jobs are fed by background threads that never touch bpy: they only put events
on a queue, and the main thread drains it with `Job.poll()` (from a modal operator's timer, or a blocking loop in
`execute`). Worker protocol: see motion_core.worker; requests and result files: motion_core.motion.protocol. A request
with `out` gets its result file there (the add-on: its results folder), written by the worker or, in process, by the
backend; a job's result is a `Motion` in memory either way. The add-on never imports torch: the in-process backend
imports motion_core.generator (which does) only when chosen.
"""

import atexit
import itertools
import json
import os
import queue
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections import deque
from dataclasses import dataclass, field, replace
from typing import Callable, Deque, Dict, List, Optional, Tuple, Union

import numpy as np

from . import vendor

vendor.ensure_motion_core()
from motion_core.errors import MotionError  # noqa: E402
from motion_core.motion.clip import Motion  # noqa: E402
# The requests are the worker's own (fields, limits, checks); the backends take them as they are.
from motion_core.motion.protocol import (  # noqa: E402
    EditRequest, GenerateRequest, SequenceRequest, load_result, save_result)

Request = Union[GenerateRequest, SequenceRequest, EditRequest]

RUNNING, FINISHED, CANCELLED, FAILED = "RUNNING", "FINISHED", "CANCELLED", "FAILED"

# A worker that sends nothing at all (not even its heartbeat, every STALL_TIMEOUT_S / 6 s) for this long is hung
# (stopped, deadlocked): it is killed and its jobs fail with a message, so neither the modal operator nor the blocking
# execute() waits forever. Loading is covered by the heartbeat, so this is not a limit on how long work may take.
STALL_TIMEOUT_S = 60.0
# Esc: a worker answers a cancel at once (on its stdin thread); one that does not within this time is killed. An
# in-process generation that ignores its cancel flag this long is abandoned (its result is dropped).
CANCEL_GRACE_S = 10.0


@dataclass
class BackendConfig:
    """Which backend to run. mode: "worker" or "in_process"; python: interpreter for the worker; extra_paths:
    prepended to the worker's PYTHONPATH (private dependency folder); weights: model folder or None (default)."""

    mode: str
    python: str = sys.executable
    extra_paths: Tuple[str, ...] = ()
    weights: Optional[str] = None
    device: str = "auto"

    def key(self):
        return (self.mode, self.python, self.extra_paths, self.weights, self.device)


@dataclass
class Job:
    """One generation request. Poll it from the main thread; never blocks unless `wait` is called."""

    request: Request
    id: str
    _cancel: Callable[["Job"], None]
    events: "queue.Queue[dict]" = field(default_factory=queue.Queue)
    state: str = RUNNING
    step: int = 0
    total: int = 0
    result: Optional[Motion] = None  # joints (V, T, 22, 3) float32; info["elapsed_s"]: seconds it took
    error: str = ""
    cancel_requested: bool = False
    cancel_grace: Optional[float] = None  # seconds after cancel() to give up on the backend (None: never)
    _cancel_deadline: float = 0.0

    def poll(self) -> str:
        """Drain pending events; return the state (RUNNING, FINISHED, CANCELLED, FAILED)."""
        while self.state == RUNNING:
            try:
                event = self.events.get_nowait()
            except queue.Empty:
                break
            self._apply(event)
        self._expire()
        return self.state

    def _expire(self) -> None:
        if (self.state == RUNNING and self.cancel_requested and self.cancel_grace is not None
                and time.monotonic() > self._cancel_deadline):
            self.state = CANCELLED  # the backend ignored the cancel: whatever it sends later is dropped

    def _apply(self, event: dict) -> None:
        kind = event.get("type")
        if kind == "progress":
            self.step, self.total = int(event.get("step", 0)), int(event.get("total", 0))
        elif kind == "result" and self.cancel_requested:
            self.state = CANCELLED  # the cancel came too late to stop sampling: the user still gets nothing
            discard(self.request.out)
        elif kind == "result":
            self.result = event["result"]
            self.state = FINISHED
        elif kind == "cancelled":
            self.state = CANCELLED
        elif kind == "error":
            self.error = str(event.get("message") or "generation failed")
            self.state = CANCELLED if self.cancel_requested else FAILED  # after Esc, a failure is still a cancel

    def cancel(self) -> None:
        if self.state == RUNNING and not self.cancel_requested:
            self.cancel_requested = True
            self._cancel_deadline = time.monotonic() + (self.cancel_grace or 0.0)
            self._cancel(self)

    def wait(self, timeout: Optional[float] = None, on_progress: Optional[Callable[[int, int], None]] = None) -> str:
        """Block until the job ends (or `timeout` seconds pass); returns the state."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.state == RUNNING:
            try:
                event = self.events.get(timeout=0.1)
            except queue.Empty:
                self._expire()
                if deadline is not None and time.monotonic() > deadline:
                    break
                continue
            self._apply(event)
            if on_progress is not None and event.get("type") == "progress":
                on_progress(self.step, self.total)
        return self.state

    @property
    def fraction(self) -> float:
        return self.step / self.total if self.total else 0.0


def discard(path: Optional[str]) -> None:
    """Remove a result file nobody will read (its job was cancelled or given up on)."""
    if path:
        try:
            os.remove(path)
        except OSError:
            pass


def _finished(motion: Motion, request: Request, elapsed: float) -> dict:
    """The result event of a job: the motion under the request's own prompt, with how long it took."""
    motion.joints = np.asarray(motion.joints, dtype=np.float32)
    motion.prompt = request.prompt
    motion.info["elapsed_s"] = elapsed
    return {"type": "result", "result": motion}


# The worker's entry point. `python -m` (and `-c`) would put the current folder first on sys.path, so a numpy.py in
# the folder Blender was started from would run inside the worker: sys.path gets exactly the folders we pass (the
# private dependency folder, motion_core's parent) in front of the interpreter's own, without "" or ".", and the
# process runs in its own empty scratch folder.
_BOOTSTRAP = ("import sys; "
              "split = sys.argv.index('--'); "
              "paths, args = sys.argv[1:split], sys.argv[split + 1:]; "
              "sys.path[:] = paths + [p for p in sys.path if p not in ('', '.') and p not in paths]; "
              "sys.argv[1:] = args; "
              "from motion_core.cli import main; "
              "sys.exit(main(args))")


def worker_command(config: BackendConfig) -> List[str]:
    """The worker's command line. The private backend runs isolated (-I: no PYTHON* variables, no user site, no
    script folder on sys.path): Blender's Python plus the private folder only. An external Python keeps its
    environment (the user's own site-packages may hold its torch) but never the current folder."""
    paths = [os.path.abspath(p) for p in (*config.extra_paths, vendor.motion_core_parent())]
    flags = ["-I", "-u"] if config.extra_paths else ["-u"]
    heartbeat = min(5.0, max(0.1, STALL_TIMEOUT_S / 6))
    return [config.python, *flags, "-c", _BOOTSTRAP, *paths, "--", "worker", "--heartbeat", f"{heartbeat:g}"]


def worker_environment(config: BackendConfig) -> Dict[str, str]:
    env = dict(os.environ)
    env["PYTHONUNBUFFERED"] = "1"
    env["PYTHONSAFEPATH"] = "1"  # Python 3.11+: no implicit current-folder entry on sys.path
    if config.extra_paths:
        env["PYTHONNOUSERSITE"] = "1"  # stale user-site torch installs must not shadow the private folder
    return env


class WorkerBackend:
    """`python -m motion_core worker` in a subprocess that stays up between generations (the model loads once)."""

    def __init__(self, config: BackendConfig):
        self.config = config
        self.device = ""
        self.model = ""
        self._ids = itertools.count(1)
        self._jobs: Dict[str, Job] = {}
        self._lock = threading.Lock()
        self._stderr: Deque[str] = deque(maxlen=40)
        self._failed = ""
        self._killed_because = ""  # set by the watchdog before it kills a hung worker
        self._cancels: Dict[str, Tuple[Job, float]] = {}  # cancel id -> (job, when sent), until answered
        self._abandoned: Dict[str, Job] = {}  # cancelled jobs whose generation has not ended yet
        self._outbox: "queue.Queue[Optional[dict]]" = queue.Queue()
        self._last_heard = time.monotonic()
        self._out_dir = tempfile.mkdtemp(prefix="motion_mamba_")
        atexit.register(shutil.rmtree, self._out_dir, True)  # Blender may quit without unregistering the add-on
        self._process = self._start()

    def _start(self) -> subprocess.Popen:
        try:
            process = subprocess.Popen(
                worker_command(self.config), cwd=self._out_dir,
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                env=worker_environment(self.config), text=True, bufsize=1, encoding="utf-8",
            )
        except OSError as error:
            raise MotionError(f"Could not start the motion worker with '{self.config.python}' ({error}): "
                              "check the Python path in Preferences → Add-ons → Motion Mamba") from error
        self._last_heard = time.monotonic()
        for target in (self._read_stdout, self._read_stderr, self._write_stdin, self._watch):
            threading.Thread(target=target, args=(process,), daemon=True).start()
        self._load_id = f"load{next(self._ids)}"
        self._send({"id": self._load_id, "type": "load", "weights": self.config.weights,
                    "device": self.config.device})
        return process

    @property
    def alive(self) -> bool:
        return self._process.poll() is None

    def _send(self, message: dict) -> None:
        """Queue a request; a writer thread sends it, so Blender's main thread never blocks on a full pipe."""
        self._outbox.put(message)

    def _write_stdin(self, process: subprocess.Popen) -> None:
        assert process.stdin is not None
        while True:
            message = self._outbox.get()
            try:
                if message is None:
                    process.stdin.close()
                    return
                process.stdin.write(json.dumps(message) + "\n")
                process.stdin.flush()
            except (OSError, ValueError):
                return  # the stdout reader reports the dead worker to every waiting job

    def _watch(self, process: subprocess.Popen) -> None:
        """Kill a worker that has gone silent (no heartbeat) or does not answer a cancel."""
        while process.poll() is None:
            time.sleep(0.2)
            now = time.monotonic()
            silent = now - self._last_heard
            with self._lock:
                unanswered = any(now - sent > CANCEL_GRACE_S for _, sent in self._cancels.values())
            if silent > STALL_TIMEOUT_S:
                reason = f"stopped responding (nothing for {silent:.0f} s)"
            elif unanswered:
                reason = f"stopped responding (no answer to a cancel in {CANCEL_GRACE_S:g} s)"
            else:
                continue
            self._killed_because = (f"The motion worker {reason} and was stopped. Blender and the scene are "
                                    "unchanged; try again (the model reloads), or check the backend in "
                                    "Preferences → Add-ons → Motion Mamba")
            process.kill()
            return

    def _read_stderr(self, process: subprocess.Popen) -> None:
        assert process.stderr is not None
        for line in process.stderr:
            self._stderr.append(line.rstrip())

    def _read_stdout(self, process: subprocess.Popen) -> None:
        assert process.stdout is not None
        for line in process.stdout:
            self._last_heard = time.monotonic()
            try:
                event = json.loads(line)
            except ValueError:
                self._stderr.append(line.rstrip())  # the protocol says stdout is JSON only; keep it for messages
                continue
            if not isinstance(event, dict):
                continue
            self._route(event)
        process.wait()
        self._fail_all(self._killed_because or self._crash_message(process.returncode))

    def _route(self, event: dict) -> None:
        kind, event_id = event.get("type"), event.get("id")
        if event_id == self._load_id:
            if kind == "ready":
                self.device, self.model = str(event.get("device", "")), str(event.get("model", ""))
            elif kind == "error":
                self._fail_all(f"The motion model did not load: {event.get('message', 'unknown error')}")
            return
        with self._lock:
            cancelled = self._cancels.pop(str(event_id), None)
            if cancelled is not None:  # the worker answered a cancel: the job ends now, whatever else comes
                self._jobs.pop(cancelled[0].id, None)
                self._abandoned[cancelled[0].id] = cancelled[0]
        if cancelled is not None:
            cancelled[0].events.put({"type": "cancelled"})
            return
        ends = kind in ("result", "error", "cancelled")
        with self._lock:
            job = self._jobs.pop(str(event_id), None) if ends else self._jobs.get(str(event_id))
            gone = self._abandoned.pop(str(event_id), None) if ends else None
        if gone is not None:  # the generation's own end, after its cancel was answered
            if kind == "result":
                discard(gone.request.out)  # sampling finished before the cancel reached it: nobody reads this
            self._remove_files(gone)
        if job is None:
            return
        if kind == "result":
            try:
                event = _finished(load_result(str(event["path"])), job.request, float(event.get("elapsed_s", 0.0)))
            except (MotionError, KeyError, TypeError, ValueError) as error:
                event = {"type": "error", "message": f"Could not read the worker's result: {error}"}
        if ends:
            self._remove_files(job)  # the result is in memory now
        job.events.put(event)

    def _remove_files(self, job: Job) -> None:
        for name in (f"{job.id}.npz", f"{job.id}_start.npz"):
            try:
                os.remove(os.path.join(self._out_dir, name))
            except OSError:
                pass

    def _crash_message(self, returncode) -> str:
        detail = next((line for line in reversed(self._stderr) if line.strip()), "")
        detail = f": {detail[:300]}" if detail else ""
        return (f"The motion worker stopped (exit code {returncode}){detail}. Blender and the scene are unchanged; "
                "check the backend in Preferences → Add-ons → Motion Mamba and try again")

    def _fail_all(self, message: str) -> None:
        with self._lock:
            jobs, self._jobs = list(self._jobs.values()), {}
            self._cancels.clear()
            self._abandoned.clear()
        for job in jobs:
            job.events.put({"type": "error", "message": message})
        self._failed = message

    def generate(self, request: Request) -> Job:
        if not self.alive:
            raise MotionError(self._failed or self._crash_message(self._process.returncode))
        job_id = f"gen{next(self._ids)}"
        if request.out is None:  # no home asked for: a file of this backend's, removed once read
            request = replace(request, out=os.path.join(self._out_dir, f"{job_id}.npz"))
        job = Job(request=request, id=job_id, _cancel=self._cancel)
        if isinstance(request, SequenceRequest):
            start = None
            if request.start is not None:  # the worker reads the motion so far from a file beside its result
                start = os.path.join(self._out_dir, f"{job.id}_start.npz")
                so_far = Motion(joints=np.asarray(request.start, dtype=np.float32)[None])
                save_result(start, so_far, "the motion so far")
            message = request.message(job.id, start)
        elif isinstance(request, EditRequest):  # the motion to edit goes the same way, in the same file name
            motion = os.path.join(self._out_dir, f"{job.id}_start.npz")
            save_result(motion, Motion(joints=np.asarray(request.joints, dtype=np.float32)[None]), "the motion to edit")
            message = request.message(job.id, motion)
        else:
            message = request.message(job.id)
        with self._lock:
            self._jobs[job.id] = job
        self._send(message)
        return job

    def _cancel(self, job: Job) -> None:
        cancel_id = f"c{next(self._ids)}"
        with self._lock:
            if job.id not in self._jobs:
                return  # already answered
            self._cancels[cancel_id] = (job, time.monotonic())
        self._send({"id": cancel_id, "type": "cancel", "target": job.id})

    def close(self, timeout: float = 5.0) -> None:
        if self.alive:
            self._send({"id": "bye", "type": "shutdown"})
            try:
                self._process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._outbox.put(None)  # the writer closes the worker's stdin and ends
        shutil.rmtree(self._out_dir, ignore_errors=True)


class InProcessBackend:
    """motion_core.generator in this process, one generation at a time on a background thread."""

    def __init__(self, config: BackendConfig):
        self.config = config
        self.device = config.device
        self.model = config.weights or "default"
        self._generator = None
        self._ids = itertools.count(1)
        self._lock = threading.Lock()  # one generation at a time: the model is not re-entrant

    def _load(self):
        if self._generator is None:
            from motion_core.generator import MotionGenerator  # imports torch: only here

            self._generator = MotionGenerator.from_pretrained(self.config.weights)
        return self._generator

    def generate(self, request: Request) -> Job:
        job = Job(request=request, id=f"local{next(self._ids)}", _cancel=self._cancel, cancel_grace=CANCEL_GRACE_S)
        threading.Thread(target=self._run, args=(job,), daemon=True).start()
        return job

    def _cancel(self, job: Job) -> None:
        pass  # Job.cancel sets the flag that the generator polls between steps

    def _run(self, job: Job) -> None:
        request = job.request
        try:
            with self._lock:
                generator = self._load()
                started = time.perf_counter()
                settings = dict(
                    seed=request.seed, steps=request.steps, guidance=request.guidance,
                    variations=request.variations, device=self.config.device,
                    progress=lambda step, total: job.events.put({"type": "progress", "step": step, "total": total}),
                    cancel=lambda: job.cancel_requested, foot_cleanup=request.foot_cleanup, sampler=request.sampler)
                if isinstance(request, SequenceRequest):
                    motion = generator.generate_sequence(list(request.segments), start=request.start, **settings)
                elif isinstance(request, EditRequest):
                    motion = generator.edit_span(request.joints, request.first, request.last, request.prompt,
                                                 **settings)
                else:
                    motion = generator.generate(request.prompt, request.seconds, candidates=request.candidates,
                                                **settings)
            event = _finished(motion, request, time.perf_counter() - started)
            if request.out is not None:
                save_result(request.out, motion)  # as the worker would: the result's file is where it was asked
            job.events.put(event)
            if job.state != RUNNING:  # given up on (cancel grace) before it ended: nobody reads the file
                discard(request.out)
        except MotionError as error:
            # GenerationCancelled is a MotionError; matching it by the request keeps torch out of this module.
            job.events.put({"type": "cancelled"} if job.cancel_requested else {"type": "error", "message": str(error)})
        except Exception as error:  # noqa: BLE001 - a crash in the engine must reach the panel, not kill Blender
            job.events.put({"type": "error", "message": f"Generation failed: {error!r}",
                            "traceback": traceback.format_exc()})

    def close(self, timeout: float = 5.0) -> None:
        self._generator = None


Backend = Union[WorkerBackend, InProcessBackend]
_BACKENDS: Dict[tuple, Backend] = {}


def get_backend(config: BackendConfig) -> Backend:
    """The running backend for this configuration, started on first use and kept alive between generations."""
    backend = _BACKENDS.get(config.key())
    if isinstance(backend, WorkerBackend) and not backend.alive:
        backend = None
    if backend is not None:
        return backend
    shutdown_all()  # one model in memory at a time
    started: Backend = WorkerBackend(config) if config.mode == "worker" else InProcessBackend(config)
    _BACKENDS[config.key()] = started
    return started


def shutdown_all() -> None:
    """Stop every backend (unregister, tests)."""
    for backend in list(_BACKENDS.values()):
        backend.close()
    _BACKENDS.clear()


def describe_backends() -> List[str]:
    """One line per running backend, for the preferences: kind, model, device."""
    kinds = {WorkerBackend: "worker process", InProcessBackend: "inside Blender"}
    return [f"{kinds[type(b)]}: {b.model or 'loading…'} on {b.device or '…'}" for b in _BACKENDS.values()]
