"""`motion-mamba worker`: a long-lived generation process speaking JSON lines over stdin/stdout.

The Blender add-on starts it with a Python that has torch, loads a model once, and sends requests; a crash here
never takes Blender down. One JSON object per line in each direction, UTF-8. stdout carries protocol events and
nothing else (anything else the process prints goes to stderr).

Requests (stdin). Every request has a string "id" (1-256 characters); numbers must be finite (NaN, Infinity and
1e999 are malformed); fields have the types shown. A request that breaks these rules gets one error event and is
not run. Unknown keys are ignored.
    {"id": "r1", "type": "load", "weights": DIR | null, "device": "auto" | "cpu" | "cuda"}
        Load a weights folder (null: the installed default model) and answer "ready". On CUDA the sampling graphs
        are captured here, so the first generation is as fast as the rest. A later load replaces the model.
    {"id": "r2", "type": "generate", "prompt": str, "seconds": float, "seed": int | null, "steps": int,
     "guidance": float, "variations": int, "candidates": int, "foot_cleanup": bool, "sampler": "ddim" | "dpmpp_2m",
     "out": "/path/result.npz" | null}
        Defaults: seed null (random; the result says which), steps 50, guidance 7.5, variations 1, candidates 1
        (N > 1: N takes drawn per variation, the best kept; `motion_core.candidates`), foot_cleanup
        true (pin the feet where the model's contact channels say they are planted), sampler "ddim" ("dpmpp_2m":
        DPM-Solver++(2M), for 10-20 steps), out null (a file in a
        temporary folder of this worker, named so that two requests never share one, and removed when the
        worker exits: read it before sending shutdown). Answers progress events,
        then "result" (or "cancelled" / "error"). An id already queued or running is an error.
    {"id": "r5", "type": "sequence", "segments": [{"prompt": str, "seconds": float}, ...], "start": "/path.npz" | null,
     and seed, steps, guidance, variations, foot_cleanup, sampler, out as for generate}
        One continuous motion from a timeline (each segment >= 1 s, up to 10 minutes in all; needs a model with a
        temporal latent). "start": an .npz whose "joints" (n, 22, 3) (metres, Y-up, 20 fps) is the motion so far:
        the result begins with its last pose and carries on with its velocity. The result event and file also give
        the segments' frames.
    {"id": "r6", "type": "edit", "motion": "/path.npz", "first": int, "last": int, "prompt": str,
     and seed, steps, guidance, variations, foot_cleanup, sampler, out as for generate}
        Regenerate frames first+1 .. last-1 of the .npz's "joints" (T, 22, 3) with the prompt; frames up to first
        and from last on come back unchanged and the new ones meet them in position and velocity.
    {"id": "r3", "type": "cancel", "target": "r2"}
        Stop generate (or sequence, edit) request r2 (running or still queued). Read on the stdin thread and
        answered at once: "cancelled" (with "target") when r2 is queued or running (r2 then answers "cancelled" itself, between sampler
        steps, or between chunks of 10 steps on CUDA), "not_found" otherwise. Nothing is remembered about unknown
        or finished targets, so a later request that reuses the id runs normally.
    {"id": "r4", "type": "shutdown"}
        Handled in order: earlier requests finish first (send a cancel first to stop a running generation), then
        the worker answers "bye" and exits with status 0. End of input (the add-on went away) cancels everything
        queued or running, then answers "bye" (id null) and exits.

Events (stdout):
    {"id": "r1", "type": "ready", "device": "cuda", "model": "motion-mamba (motion_mamba, denoiser 7.92 M params)"}
    {"id": "r2", "type": "progress", "step": 10, "total": 50}
    {"id": "r2", "type": "result", "path": "/path/result.npz", "frames": 80, "fps": 20.0, "seed": 7,
     "variations": 1, "elapsed_s": 0.41}
        The .npz is a result file (`motion_core.motion.protocol`): joints (variations, T, 22, 3) float32 (metres,
        Y-up, +Z forward, HumanML3D 22-joint order), fps (float), prompt (str), seed (int). Written completely before
        the event is sent. A sequence's result also has "segments": [{"prompt", "start_frame", "end_frame"}, ...],
        and its file segment_prompts, segment_starts and segment_ends.
    {"id": "r2", "type": "cancelled"}
    {"id": "r3", "type": "cancelled", "target": "r2"}  /  {"id": "r3", "type": "not_found", "target": "r2"}
    {"id": "r2", "type": "error", "message": "one line saying what to do", "traceback": "..."}
        "traceback" only for unexpected failures (bugs), not for user errors such as an empty prompt or missing
        weights. A malformed line (not UTF-8, not JSON, not an object, a bad field) gets an error event with its
        id when that id is a valid one, else null, and the worker keeps serving.
    {"id": "r4", "type": "bye"}
    {"id": null, "type": "heartbeat"}
        Only when started with `--heartbeat SECONDS`: one every SECONDS, even while loading or sampling, so the
        add-on can tell a busy worker from a hung (stopped, deadlocked) one. Not an answer to any request.

Every request gets exactly one terminal event: ready / result / cancelled / not_found / error / bye.
Requests run one at a time in arrival order (cancel acts at once); a generate before any load is an error ("send a
load request first").
"""

import contextlib
import itertools
import json
import math
import os
import queue
import re
import shutil
import sys
import tempfile
import threading
import time
import traceback
from pathlib import Path

import numpy as np

from motion_core.errors import MotionError
from motion_core.motion.outputs import check_writable
from motion_core.motion.protocol import DEFAULT_SAMPLER, SAMPLERS, load_joints, save_result

REQUEST_TYPES = ("load", "generate", "sequence", "edit", "cancel", "shutdown")
GENERATION_TYPES = ("generate", "sequence", "edit")  # requests that sample (queued, cancellable, one result file)


class _Protocol:
    """Writes events, one JSON object per line, from any thread."""

    def __init__(self, stream):
        self.stream = stream
        self.lock = threading.Lock()
        self.closed = False  # the reader went away; events are dropped (end of input then stops the worker)

    def emit(self, request_id, event_type, **fields):
        line = json.dumps({"id": request_id, "type": event_type, **fields}, allow_nan=False)
        with self.lock:
            if self.closed:
                return
            try:
                self.stream.write(line + "\n")
                self.stream.flush()
            except (OSError, ValueError):
                self.closed = True

    def error(self, request_id, message, with_traceback=False):
        fields = {"message": message}
        if with_traceback:
            fields["traceback"] = traceback.format_exc()
        self.emit(request_id, "error", **fields)


MAX_ID_LENGTH = 256
MAX_NUMBER_DIGITS = 40  # longer integers are not ids, seeds or step counts (and Python refuses > 4300 digits)


class RequestError(ValueError):
    """A malformed request; `request_id` is its id when that id itself is valid (for the error event), else None."""

    def __init__(self, message, request_id=None):
        super().__init__(message)
        self.request_id = request_id


def _show(value):
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _bounded_int(text):
    if len(text.lstrip("-")) > MAX_NUMBER_DIGITS:
        raise ValueError(f"a number with {len(text)} digits")
    return int(text)


def _is_number(value):
    # NaN, Infinity and 1e999 parse (as json does) and are refused here, so the error event keeps the request's id.
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def _is_segment_list(value):
    # Each segment's prompt and duration are checked by timeline.check_segments, with one-line messages.
    return isinstance(value, list) and all(isinstance(item, dict) for item in value)


# Settings every sampling request shares.
_SAMPLING = {
    "seed": (False, lambda v: v is None or _is_int(v), "a whole number or null"),
    "steps": (False, _is_int, "a whole number"),
    "guidance": (False, _is_number, "a finite number"),
    "variations": (False, _is_int, "a whole number"),
    "foot_cleanup": (False, lambda v: isinstance(v, bool), "true or false"),
    "sampler": (False, lambda v: v in SAMPLERS, " or ".join(f'"{name}"' for name in SAMPLERS)),
    "out": (False, lambda v: v is None or isinstance(v, str), "a path ending in .npz or null"),
}

# Field rules per request type: name -> (required, check, what it must be).
_FIELDS = {
    "load": {
        "weights": (False, lambda v: v is None or isinstance(v, str), "a folder path or null"),
        "device": (False, lambda v: v is None or isinstance(v, str), "\"auto\", \"cpu\" or \"cuda\""),
    },
    "generate": {
        "prompt": (True, lambda v: isinstance(v, str), "a string"),
        "seconds": (True, _is_number, "a finite number"),
        "candidates": (False, _is_int, "a whole number"),
        **_SAMPLING,
    },
    "sequence": {
        "segments": (True, _is_segment_list, "a list of {\"prompt\": ..., \"seconds\": ...} objects"),
        "start": (False, lambda v: v is None or isinstance(v, str), "a path to an .npz with joints, or null"),
        **_SAMPLING,
    },
    "edit": {
        "motion": (True, lambda v: isinstance(v, str), "a path to an .npz with joints"),
        "first": (True, _is_int, "a whole number (frame)"),
        "last": (True, _is_int, "a whole number (frame)"),
        "prompt": (True, lambda v: isinstance(v, str), "a string"),
        **_SAMPLING,
    },
    "cancel": {"target": (True, lambda v: isinstance(v, str), "a string (the id of a generate request)")},
    "shutdown": {},
}


def parse_request(line):
    """One input line -> request dict, checked against the schema above; raises RequestError (a ValueError) with a
    one-line message for the error event."""
    try:
        request = json.loads(line, parse_int=_bounded_int)
    except json.JSONDecodeError as error:
        raise RequestError(f"malformed request, not JSON ({error.msg} at column {error.colno}); "
                           "send one JSON object per line") from None
    except (ValueError, RecursionError) as error:
        raise RequestError(f"malformed request, not JSON ({error}); send one JSON object per line") from None
    if not isinstance(request, dict):
        raise RequestError("malformed request: expected a JSON object like {\"id\": \"r1\", \"type\": \"load\"}")
    request_id = request.get("id")
    if not isinstance(request_id, str) or not 1 <= len(request_id) <= MAX_ID_LENGTH:
        raise RequestError(f"malformed request: \"id\" must be a string of 1-{MAX_ID_LENGTH} characters, "
                           f"got {_show(request_id)}")
    kind = request.get("type")
    if not isinstance(kind, str) or kind not in REQUEST_TYPES:
        raise RequestError(f"unknown request type {_show(kind)}; use one of {', '.join(REQUEST_TYPES)}", request_id)
    fields = _FIELDS[kind]
    if kind == "cancel" and "target" not in request:
        raise RequestError("a cancel request needs \"target\": the id of the generate request to stop", request_id)
    required = [f"\"{name}\"" for name, (needed, _, _) in fields.items() if needed]
    if any(name.strip('"') not in request for name in required):
        listed = ", ".join(required[:-1]) + " and " + required[-1] if len(required) > 1 else required[0]
        raise RequestError(f"a {kind} request needs {listed}", request_id)
    for name, (_, check, what) in fields.items():
        if name in request and not check(request[name]):
            raise RequestError(f"\"{name}\" must be {what}, got {_show(request[name])}", request_id)
    return request


def _result_path(out, scratch_path):
    """Where a result goes: the request's "out", or `scratch_path()` (unique per request) in the worker's folder."""
    if out is None:
        return scratch_path()
    if not out.endswith(".npz"):
        raise MotionError(f"\"out\" must be a path ending in .npz, got {_show(out)}")
    return check_writable(out, "\"out\"")  # before sampling: an unwritable path fails at once


def read_joints(path, what):
    """(T, 22, 3) joints of a one-variation .npz (a result file or an exported motion), or MotionError."""
    joints, _ = load_joints(path, f"\"{what}\"")
    if len(joints) != 1:
        raise MotionError(f"\"{what}\" holds {len(joints)} variations of a motion; save the one to use on its own")
    return joints[0].astype(np.float64)


class Worker:
    def __init__(self, protocol):
        self.protocol = protocol
        self.generator = None
        self.jobs = queue.Queue()
        self.lock = threading.Lock()
        self.pending = set()  # ids of generate requests queued or running (what a cancel may target)
        self.cancelled = set()  # the subset asked to stop; both sets forget an id when its request ends
        self._scratch = None  # folder for results without "out": made on first use, removed when serving ends
        self._names = itertools.count(1)

    def scratch_path(self, request_id):
        """A result path in this worker's temporary folder, unique per request."""
        if self._scratch is None:
            self._scratch = tempfile.mkdtemp(prefix="motion-mamba-worker-")
        safe = re.sub(r"[^A-Za-z0-9_.-]", "_", request_id)[:64]
        return Path(self._scratch) / f"{next(self._names):06d}_{safe}.npz"

    def remove_scratch(self):
        if self._scratch is not None:
            shutil.rmtree(self._scratch, ignore_errors=True)
            self._scratch = None

    # ----- stdin thread
    def read_requests(self, stream):
        """Read request lines until shutdown or end of input. Nothing in a line can stop this loop: a bad line is
        an error event, and a broken stream counts as end of input."""
        try:
            for raw in stream:
                try:
                    if self._handle_line(raw):
                        return
                except Exception as error:  # a bug handling one line: report it, keep reading
                    self.protocol.error(None, f"{type(error).__name__}: {error}", with_traceback=True)
        except (OSError, ValueError) as error:  # the stream itself failed: the add-on is gone
            print(f"worker: input stream failed ({error}); stopping", file=sys.stderr)
        with self.lock:
            self.cancelled.update(self.pending)  # nobody is left to read the results: stop within a step
        self.jobs.put({"id": None, "type": "shutdown"})

    def _handle_line(self, raw):
        """Parse and dispatch one line; True when it was a shutdown (stop reading)."""
        if isinstance(raw, bytes):
            try:
                raw = raw.decode("utf-8")
            except UnicodeDecodeError as error:
                self.protocol.error(None, f"malformed request, not UTF-8 (byte {error.start + 1} of the line); "
                                          "send UTF-8 JSON lines")
                return False
        if not raw.strip():
            return False
        try:
            request = parse_request(raw)
        except RequestError as error:
            self.protocol.error(error.request_id, str(error))
            return False
        request_id, kind = request["id"], request["type"]
        if kind == "cancel":
            target = request["target"]
            with self.lock:
                found = target in self.pending
                if found:
                    self.cancelled.add(target)
            self.protocol.emit(request_id, "cancelled" if found else "not_found", target=target)
            return False
        if kind in GENERATION_TYPES:
            with self.lock:
                duplicate = request_id in self.pending
                if not duplicate:
                    self.pending.add(request_id)
            if duplicate:
                self.protocol.error(request_id, f"id {_show(request_id)} is already queued or running; "
                                                "use a new id for each request")
                return False
        self.jobs.put(request)
        return kind == "shutdown"

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
                elif kind in GENERATION_TYPES:
                    self.generate(request)
            except MotionError as error:
                self.protocol.error(request_id, str(error))
            except Exception as error:  # a bug: report it with its traceback and keep serving
                self.protocol.error(request_id, f"{type(error).__name__}: {error}", with_traceback=True)
            finally:
                with self.lock:
                    self.pending.discard(request_id)
                    self.cancelled.discard(request_id)

    def load(self, request):
        from motion_core.generator import MotionGenerator  # torch (~2 s): after the worker has said hello

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
        from motion_core.generator import GenerationCancelled  # see load()

        request_id = request["id"]
        if self._should_stop(request_id):
            self.protocol.emit(request_id, "cancelled")
            return
        if self.generator is None:
            raise MotionError("no model loaded: send a load request first")
        path = _result_path(request.get("out"), lambda: self.scratch_path(request_id))

        def progress(step, total):
            self.protocol.emit(request_id, "progress", step=step, total=total)

        settings = dict(seed=request.get("seed"), steps=request.get("steps", 50),
                        guidance=request.get("guidance", 7.5), variations=request.get("variations", 1),
                        device=self.generator.device, progress=progress,
                        cancel=lambda: self._should_stop(request_id), foot_cleanup=request.get("foot_cleanup", True),
                        sampler=request.get("sampler", DEFAULT_SAMPLER))
        start = time.perf_counter()
        try:
            if request["type"] == "sequence":
                given = request.get("start")
                motion = self.generator.generate_sequence(
                    request["segments"], start=None if given is None else read_joints(given, "start"), **settings)
            elif request["type"] == "edit":
                motion = self.generator.edit_span(read_joints(request["motion"], "motion"), request["first"],
                                                  request["last"], request["prompt"], **settings)
            else:
                motion = self.generator.generate(request["prompt"], request["seconds"],
                                                 candidates=request.get("candidates", 1), **settings)
        except GenerationCancelled:
            self.protocol.emit(request_id, "cancelled")
            return
        save_result(path, motion)
        elapsed = time.perf_counter() - start
        extra = {}
        if motion.segments:
            extra["segments"] = [{"prompt": p, "start_frame": a, "end_frame": b} for p, a, b in motion.segments]
        self.protocol.emit(request_id, "result", path=str(path), frames=motion.frames, fps=float(motion.fps),
                           seed=motion.seed, variations=motion.variations,
                           elapsed_s=round(elapsed, 4) if math.isfinite(elapsed) else None, **extra)


def serve(stdin=None, stdout=None, preload=None, heartbeat=None):
    """Run the worker until shutdown or end of input; returns the exit status (0).

    stdin/stdout default to the process streams; while serving, anything printed via sys.stdout goes to stderr so
    only protocol events reach the real stdout. preload: (weights, device) to load before reading requests.
    heartbeat: seconds between heartbeat events (None: none).
    """
    # Bytes, decoded line by line: invalid UTF-8 is an error event for that line, not a dead reader.
    stdin = stdin if stdin is not None else sys.stdin.buffer
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
    stop = threading.Event()
    if heartbeat is not None:
        def beat():
            while not stop.wait(heartbeat):
                protocol.emit(None, "heartbeat")

        threading.Thread(target=beat, daemon=True, name="worker-heartbeat").start()
    with contextlib.redirect_stdout(sys.stderr), _stopping(stop):
        if preload is not None:
            try:
                worker.load({"id": None, "weights": preload[0], "device": preload[1]})
            except MotionError as error:
                protocol.error(None, str(error))
        reader = threading.Thread(target=worker.read_requests, args=(stdin,), daemon=True, name="worker-stdin")
        reader.start()
        try:
            return worker.serve()
        finally:
            worker.remove_scratch()


@contextlib.contextmanager
def _stopping(event):
    try:
        yield
    finally:
        event.set()
