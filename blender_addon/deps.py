"""The private backend installer: pip-installs torch and the engine's requirements into a folder of our own.

Runs `python -m pip install --target FOLDER ...` in a subprocess, on a thread that only parses pip's output into
progress (no bpy here). Failures become one-line messages that say what to do (offline, index unreachable, no wheel
for this Python, disk full). Not allowed on extensions.blender.org (it downloads code), so it only runs when the user
clicks the button and Blender's "Allow Online Access" is on.
"""

import os
import queue
import re
import subprocess
import sys
import threading
import time
from typing import List, Optional, Sequence

from . import vendor

TORCH_INDEX = "https://download.pytorch.org/whl/{variant}"
# Packages Blender's Python already has (or the worker does not need) are left out.
_SKIP = {"numpy", "matplotlib"}


def backend_requirements() -> List[str]:
    """Pinned requirement lines for the worker: the bundled list (zip) or the repository's requirements.txt."""
    here = os.path.join(os.path.dirname(os.path.abspath(__file__)), "backend_requirements.txt")
    path = here if os.path.isfile(here) else os.path.join(vendor.motion_core_parent(), "requirements.txt")
    lines: List[str] = []
    if os.path.isfile(path):
        with open(path, encoding="utf-8") as f:
            for line in f:
                line = line.split("#", 1)[0].strip()
                if line and not line.startswith("-") and re.split(r"[=<>!~\[ ]", line)[0].lower() not in _SKIP:
                    lines.append(line)
    return lines or ["torch", "safetensors"]


def explain_pip_failure(output: str, returncode: int) -> str:
    """One line saying what went wrong and what to do, from pip's output."""
    text = output.lower()
    if any(s in text for s in ("temporary failure in name resolution", "failed to establish a new connection",
                               "network is unreachable", "connection refused", "read timed out",
                               "max retries exceeded", "no route to host")):
        return ("pip could not reach the package index (offline or blocked by a proxy): connect to the internet and "
                "retry, or set an external Python that already has torch")
    if any(s in text for s in ("no matching distribution", "could not find a version", "resolutionimpossible")):
        return (f"pip found no matching package for Python {sys.version_info.major}.{sys.version_info.minor} on "
                "this platform: try the CPU variant, or set an external Python that has torch")
    if "no space left" in text:
        return "The disk is full: free some space (torch needs 1-3 GB) and retry"
    if "no module named pip" in text:
        return "Blender's Python has no pip: reinstall Blender, or set an external Python that has torch"
    last = next((line.strip() for line in reversed(output.splitlines()) if line.strip()), "")
    return f"pip failed (exit code {returncode}): {last[:200]}"


class Installer:
    """One pip run. poll() from the main thread -> (state, fraction, message); state RUNNING / FINISHED / FAILED."""

    def __init__(self, target: str, packages: Sequence[str], variant: str = "cpu",
                 python: Optional[str] = None, extra_args: Sequence[str] = ()):
        """target: the private folder; packages: pinned requirement lines; variant: "cpu" or a CUDA tag ("cu128")
        naming the PyTorch wheel index; extra_args: passed to pip before the packages (tests point the index at a
        local folder with --no-index --find-links)."""
        self.target = target
        indexes = [] if "--no-index" in extra_args else ["--extra-index-url", TORCH_INDEX.format(variant=variant)]
        self.command = [
            python or sys.executable, "-m", "pip", "install", "--upgrade", "--no-input", "--disable-pip-version-check",
            "--target", target, *indexes, *extra_args, *packages,
        ]
        self.total = max(len(packages), 1)
        self.state, self.fraction, self.message = "RUNNING", 0.0, "Starting pip…"
        self._events: "queue.Queue[tuple]" = queue.Queue()
        self._output: List[str] = []

    def start(self) -> "Installer":
        os.makedirs(self.target, exist_ok=True)
        threading.Thread(target=self._run, daemon=True).start()
        return self

    def _run(self) -> None:
        try:
            process = subprocess.Popen(self.command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                       encoding="utf-8", errors="replace")
        except OSError as error:
            self._events.put(("FAILED", f"Could not run pip ({error}): set an external Python that has torch"))
            return
        collected = 0
        assert process.stdout is not None
        for line in process.stdout:
            self._output.append(line)
            line = line.strip()
            if line.startswith("Collecting "):
                collected += 1
                self._events.put(("RUNNING", min(0.8, 0.8 * collected / (self.total * 4)),
                                  f"Resolving {line.split()[1]}"))
            elif line.startswith("Downloading "):
                self._events.put(("RUNNING", None, line[:120]))
            elif line.startswith("Installing collected packages"):
                self._events.put(("RUNNING", 0.85, "Installing (this can take a minute)…"))
        returncode = process.wait()
        if returncode == 0:
            self._events.put(("FINISHED", f"Backend installed in {self.target}"))
        else:
            self._events.put(("FAILED", explain_pip_failure("".join(self._output), returncode)))

    def poll(self):
        while True:
            try:
                event = self._events.get_nowait()
            except queue.Empty:
                break
            if event[0] == "RUNNING":
                _, fraction, message = event
                self.fraction = self.fraction if fraction is None else fraction
                self.message = message
            else:
                self.state, self.message = event
                self.fraction = 1.0 if self.state == "FINISHED" else self.fraction
        return self.state, self.fraction, self.message

    def wait(self, timeout: Optional[float] = None):
        """Block until pip ends (or `timeout` seconds pass) -> poll()'s (state, fraction, message)."""
        end = None if timeout is None else time.monotonic() + timeout
        while self.poll()[0] == "RUNNING" and (end is None or time.monotonic() < end):
            time.sleep(0.05)
        return self.poll()
