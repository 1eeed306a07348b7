"""`motion-mamba worker`: a long-lived generation process speaking JSON lines over stdin/stdout.

The Blender add-on starts it with a Python that has torch, loads a model once, and sends requests; a crash here
never takes Blender down. One JSON object per line in each direction. stdout carries protocol events and nothing
else (anything else the process prints goes to stderr).

Requests (stdin):
    {"id": "r1", "type": "load", "weights": DIR | null, "device": "auto" | "cpu" | "cuda"}
        Load a weights folder (null: the installed default model) and answer "ready". On CUDA the sampling graphs
        are captured here, so the first generation is as fast as the rest. A later load replaces the model.
    {"id": "r2", "type": "generate", "prompt": str, "seconds": float, "seed": int | null, "steps": int,
     "guidance": float, "variations": int, "foot_cleanup": bool, "out": "/path/result.npz" | null}
        Defaults: seed null (random; the result says which), steps 50, guidance 7.5, variations 1, foot_cleanup
        true (pin the feet where the model's contact channels say they are planted), out null (a file in a
        temporary folder of this worker). Answers progress events, then "result" (or "cancelled" / "error").
    {"id": "r3", "type": "cancel", "target": "r2"}
        Stop generation r2 (running or still queued). Read on the stdin thread, checked between sampler steps
        (between chunks of 10 steps on CUDA); r2 then answers "cancelled". Unknown or finished targets are ignored.
    {"id": "r4", "type": "shutdown"}
        Handled in order: earlier requests finish first (send a cancel first to stop a running generation), then
        the worker answers "bye" and exits with status 0. End of input does the same (id null).
Unknown keys in a request are ignored.

Events (stdout):
    {"id": "r1", "type": "ready", "device": "cuda", "model": "motion-mamba (motion_mamba, denoiser 7.92 M params)"}
    {"id": "r2", "type": "progress", "step": 10, "total": 50}
    {"id": "r2", "type": "result", "path": "/path/result.npz", "frames": 80, "fps": 20.0, "seed": 7,
     "variations": 1, "elapsed_s": 0.41}
        The .npz holds joints (variations, T, 22, 3) float32 (metres, Y-up, +Z forward, HumanML3D 22-joint order),
        fps (float), prompt (str), seed (int). Written completely before the event is sent.
    {"id": "r2", "type": "cancelled"}
    {"id": "r2", "type": "error", "message": "one line saying what to do", "traceback": "..."}
        "traceback" only for unexpected failures (bugs), not for user errors such as an empty prompt or missing
        weights. A malformed line (not JSON, not an object, no "type", unknown type) gets an error event with the
        id it had, or null, and the worker keeps serving.
    {"id": "r4", "type": "bye"}

Requests run one at a time in arrival order (cancel acts at once); a generate before any load is an error ("send a
load request first"). Use unique ids: a cancel for an id that has not run yet cancels it when it comes.
"""

import contextlib
import json
import math
import os
import queue
import re
import sys
import tempfile
import threading
import time
import traceback
from pathlib import Path

import numpy as np

from motion_core.errors import MotionError

REQUEST_TYPES = ("load", "generate", "cancel", "shutdown")


class _Protocol:
    """Writes events, one JSON object per line, from any thread."""

    def __init__(self, stream):
        self.stream = stream
        self.lock = threading.Lock()

    def emit(self, request_id, event_type, **fields):
        line = json.dumps({"id": request_id, "type": event_type, **fields}, allow_nan=False)
        with self.lock:
            self.stream.write(line + "\n")
            self.stream.flush()

    def error(self, request_id, message, with_traceback=False):
        fields = {"message": message}
        if with_traceback:
            fields["traceback"] = traceback.format_exc()
        self.emit(request_id, "error", **fields)


def parse_request(line):
    """One input line -> request dict; raises ValueError with a message for the error event."""
    try:
        request = json.loads(line)
    except json.JSONDecodeError as error:
        raise ValueError(f"malformed request, not JSON ({error.msg} at column {error.colno}); "
                         "send one JSON object per line") from None
    if not isinstance(request, dict):
        raise ValueError("malformed request: expected a JSON object like {\"id\": \"r1\", \"type\": \"load\"}")
    kind = request.get("type")
    if kind not in REQUEST_TYPES:
        raise ValueError(f"unknown request type {kind!r}; use one of {', '.join(REQUEST_TYPES)}")
    if kind == "cancel" and "target" not in request:
        raise ValueError("a cancel request needs \"target\": the id of the generate request to stop")
    return request


def _result_path(out, request_id, scratch):
    if out is not None:
        if not isinstance(out, str) or not out.endswith(".npz"):
            raise MotionError(f"\"out\" must be a path ending in .npz, got {out!r}")
        path = Path(out).expanduser()
        if not path.parent.is_dir():
            raise MotionError(f"the folder of \"out\" does not exist: {path.parent}")
        return path
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", str(request_id))[:64] or "result"
    return Path(scratch) / f"{safe}.npz"


def write_result(path, motion):
    """Write the result .npz atomically (a reader never sees half a file)."""
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez(tmp, joints=motion.joints.astype(np.float32), fps=np.float32(motion.fps), prompt=np.str_(motion.prompt),
             seed=np.int64(motion.seed))
    os.replace(tmp, path)


class Worker:
    def __init__(self, protocol):
        self.protocol = protocol
        self.generator = None
        self.jobs = queue.Queue()
        self.lock = threading.Lock()
        self.current = None  # id of the running generate request
        self.cancelled = set()  # ids asked to stop
        self.scratch = tempfile.mkdtemp(prefix="motion-mamba-worker-")

    # ----- stdin thread
    def read_requests(self, stream):
        for line in stream:
            if not line.strip():
                continue
            try:
                request = parse_request(line)
            except ValueError as error:
                request_id = None
                with contextlib.suppress(Exception):
                    request_id = json.loads(line).get("id")
                self.protocol.error(request_id if isinstance(request_id, (str, int)) else None, str(error))
                continue
            if request["type"] == "cancel":
                with self.lock:
                    self.cancelled.add(request["target"])
                continue
            self.jobs.put(request)
            if request["type"] == "shutdown":
                return
        self.jobs.put({"id": None, "type": "shutdown"})

    # ----- main thread
    def serve(self):
        while True:
            request = self.jobs.get()
            request_id, kind = request.get("id"), request["type"]
            if kind == "shutdown":
                self.protocol.emit(request_id, "bye")
                return 0
            try:
                if kind == "load":
                    self.load(request)
                elif kind == "generate":
                    self.generate(request)
            except MotionError as error:
                self.protocol.error(request_id, str(error))
            except Exception as error:  # a bug: report it with its traceback and keep serving
                self.protocol.error(request_id, f"{type(error).__name__}: {error}", with_traceback=True)

    def load(self, request):
        from motion_core.generator import MotionGenerator

        device = request.get("device", "auto") or "auto"
        text_encoder = self.generator.text_encoder if self.generator is not None else None
        generator = MotionGenerator.from_pretrained(request.get("weights"), text_encoder=text_encoder)
        generator.to(device)
        generator.warmup(device)
        self.generator = generator
        self.protocol.emit(request.get("id"), "ready", device=str(generator.device), model=generator.describe())

    def _should_stop(self, request_id):
        with self.lock:
            return request_id in self.cancelled

    def generate(self, request):
        from motion_core.generator import GenerationCancelled

        request_id = request.get("id")
        if self._should_stop(request_id):
            self.protocol.emit(request_id, "cancelled")
            return
        if self.generator is None:
            raise MotionError("no model loaded: send a load request first")
        if "prompt" not in request or "seconds" not in request:
            raise MotionError("a generate request needs \"prompt\" and \"seconds\"")
        foot_cleanup = request.get("foot_cleanup", True)
        if not isinstance(foot_cleanup, bool):
            raise MotionError(f"\"foot_cleanup\" must be true or false, got {foot_cleanup!r}")
        path = _result_path(request.get("out"), request_id, self.scratch)

        def progress(step, total):
            self.protocol.emit(request_id, "progress", step=step, total=total)

        start = time.perf_counter()
        with self.lock:
            self.current = request_id
        try:
            motion = self.generator.generate(
                request["prompt"], request["seconds"], seed=request.get("seed"), steps=request.get("steps", 50),
                guidance=request.get("guidance", 7.5), variations=request.get("variations", 1),
                device=self.generator.device, progress=progress, cancel=lambda: self._should_stop(request_id),
                foot_cleanup=foot_cleanup)
        except GenerationCancelled:
            self.protocol.emit(request_id, "cancelled")
            return
        finally:
            with self.lock:
                self.current = None
                self.cancelled.discard(request_id)
        write_result(path, motion)
        elapsed = time.perf_counter() - start
        self.protocol.emit(request_id, "result", path=str(path), frames=motion.frames, fps=float(motion.fps),
                           seed=motion.seed, variations=motion.variations,
                           elapsed_s=round(elapsed, 4) if math.isfinite(elapsed) else None)


def serve(stdin=None, stdout=None, preload=None):
    """Run the worker until shutdown or end of input; returns the exit status (0).

    stdin/stdout default to the process streams; while serving, anything printed via sys.stdout goes to stderr so
    only protocol events reach the real stdout. preload: (weights, device) to load before reading requests.
    """
    stdin = stdin if stdin is not None else sys.stdin
    if stdout is None:
        # Keep the real stdout for events only: move file descriptor 1 onto stderr, so even native libraries that
        # print (CUDA, Triton) cannot corrupt the protocol stream.
        sys.stdout.flush()
        events = os.fdopen(os.dup(1), "w", buffering=1, encoding="utf-8")
        os.dup2(2, 1)
    else:
        events = stdout
    protocol = _Protocol(events)
    worker = Worker(protocol)
    with contextlib.redirect_stdout(sys.stderr):
        if preload is not None:
            try:
                worker.load({"id": None, "weights": preload[0], "device": preload[1]})
            except MotionError as error:
                protocol.error(None, str(error))
        reader = threading.Thread(target=worker.read_requests, args=(stdin,), daemon=True, name="worker-stdin")
        reader.start()
        return worker.serve()
