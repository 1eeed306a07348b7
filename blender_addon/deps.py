"""The private backend installer: pip-installs torch and the engine's requirements into a folder of our own.

Runs `python -m pip install --target ...` in subprocesses, on a thread that only parses pip's output into progress
(no bpy here). Failures become one-line messages that say what to do (offline, index unreachable, no wheel for this
Python, disk full). Not allowed on extensions.blender.org (it downloads code), so it only runs when the user clicks
the button and Blender's "Allow Online Access" is on.

Supply chain: `backend_lock.txt` pins every package. It is installed in two sets, each from one index only (never
`--extra-index-url`, which lets a package of the same name on the general index win): torch from the PyTorch index
(with its own dependencies, resolved there), then the complete pinned closure of everything else from PyPI with
`--no-deps`, so no version floats. Wheels only (`--only-binary :all:`): no package's setup.py runs. Everything goes
into a staging folder that replaces the backend folder only when every set installed, so a failed or interrupted
install leaves the working backend as it was (and there is no `--upgrade` over a live folder).
"""

import os
import queue
import re
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple, Union

from . import vendor

TORCH_INDEX = "https://download.pytorch.org/whl/{variant}"
PYPI_INDEX = "https://pypi.org/simple"
LOCK_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "backend_lock.txt")
# Packages Blender's Python already has (or the worker does not need) are left out.
_SKIP = {"numpy", "matplotlib"}


@dataclass
class PackageSet:
    """Packages installed by one pip run, from one index. deps: let pip resolve their dependencies (from that same
    index); False installs exactly the listed pins."""

    index: str
    packages: List[str]
    deps: bool = False


def read_lock(path: str = LOCK_FILE) -> Dict[str, List[str]]:
    """{"pytorch": [...], "pypi": [...]} requirement lines (pins, optional markers) from the lock file."""
    sets: Dict[str, List[str]] = {"pytorch": [], "pypi": []}
    current = None
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.split("#", 1)[0].strip()
            if not line:
                continue
            if line.startswith("[") and line.endswith("]"):
                current = line[1:-1]
                continue
            if current not in sets:
                raise ValueError(f"{path}: a requirement outside [pytorch] / [pypi]: {line!r}")
            sets[current].append(line)
    return sets


def install_plan(variant: str = "cpu") -> List[PackageSet]:
    """The two pip runs for the private backend: torch from the PyTorch index, the rest pinned from PyPI."""
    lock = read_lock()
    return [PackageSet(TORCH_INDEX.format(variant=variant), lock["pytorch"], deps=True),
            PackageSet(PYPI_INDEX, lock["pypi"], deps=False)]


def backend_requirements() -> List[str]:
    """Every pinned requirement line the private backend installs (the lock file's sets, torch first)."""
    if os.path.isfile(LOCK_FILE):
        lock = read_lock()
        return lock["pytorch"] + lock["pypi"]
    # Older zips carried only the top-level pins.
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
    """One install (one pip run per package set). poll() from the main thread -> (state, fraction, message); state
    RUNNING / FINISHED / FAILED."""

    def __init__(self, target: str, packages: Union[Sequence[PackageSet], Sequence[str]], variant: str = "cpu",
                 python: Optional[str] = None, extra_args: Sequence[str] = ()):
        """target: the private folder; packages: `install_plan(variant)`, or plain requirement lines (one set from
        PyPI); variant: "cpu" or a CUDA tag ("cu128"), used by install_plan; extra_args: passed to pip before the
        packages (tests point it at a local folder with --no-index --find-links, which replaces the indexes)."""
        self.target = os.path.abspath(target)
        self.staging = self.target + ".partial"
        sets: List[PackageSet] = [p for p in packages if isinstance(p, PackageSet)]
        if len(sets) < len(packages):
            lines = [p for p in packages if isinstance(p, str)]
            if len(lines) < len(packages):
                raise TypeError("packages: PackageSets or requirement lines, not a mix")
            sets = [PackageSet(PYPI_INDEX, lines, deps=True)]
        local = "--no-index" in extra_args
        self.commands = [[
            python or sys.executable, "-m", "pip", "install", "--no-input", "--disable-pip-version-check",
            "--only-binary", ":all:", "--target", self.staging,
            *([] if local else ["--index-url", s.index]), *([] if s.deps else ["--no-deps"]), *extra_args,
            *s.packages,
        ] for s in sets]
        self.total = max(sum(len(s.packages) for s in sets), 1)
        self.state, self.fraction, self.message = "RUNNING", 0.0, "Starting pip…"
        self._events: "queue.Queue[tuple]" = queue.Queue()
        self._output: List[str] = []

    def start(self) -> "Installer":
        shutil.rmtree(self.staging, ignore_errors=True)  # what an interrupted install left behind
        os.makedirs(self.staging)
        threading.Thread(target=self._run, daemon=True).start()
        return self

    def _run(self) -> None:
        # The terminal event is posted only after the staging folder is gone, so that a caller who sees FAILED or
        # FINISHED never finds a half-written `.partial` folder beside the backend.
        final: Optional[Tuple[str, str]] = None
        try:
            collected = 0
            for command in self.commands:
                try:
                    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                               encoding="utf-8", errors="replace")
                except OSError as error:
                    final = ("FAILED", f"Could not run pip ({error}): set an external Python that has torch")
                    return
                output: List[str] = []
                assert process.stdout is not None
                for line in process.stdout:
                    output.append(line)
                    line = line.strip()
                    if line.startswith("Collecting "):
                        collected += 1
                        self._events.put(("RUNNING", min(0.8, 0.8 * collected / (self.total * 2)),
                                          f"Resolving {line.split()[1]}"))
                    elif line.startswith("Downloading "):
                        self._events.put(("RUNNING", None, line[:120]))
                    elif line.startswith("Installing collected packages"):
                        self._events.put(("RUNNING", 0.85, "Installing (this can take a minute)…"))
                self._output.extend(output)
                returncode = process.wait()
                if returncode != 0:
                    final = ("FAILED", explain_pip_failure("".join(output), returncode))
                    return
            try:
                self._swap_in()
            except OSError as error:
                final = ("FAILED", f"Could not move the new backend into {self.target} ({error.strerror}): "
                                   "close programs using it and retry")
                return
            final = ("FINISHED", f"Backend installed in {self.target}")
        finally:
            shutil.rmtree(self.staging, ignore_errors=True)
            if final is not None:
                self._events.put(final)

    def _swap_in(self) -> None:
        """Replace the backend folder by the complete staging folder (the old one is removed only afterwards)."""
        old = self.target + ".old"
        shutil.rmtree(old, ignore_errors=True)
        if os.path.exists(self.target):
            os.replace(self.target, old)
        try:
            os.replace(self.staging, self.target)
        except OSError:
            if os.path.exists(old) and not os.path.exists(self.target):
                os.replace(old, self.target)  # put the working backend back
            raise
        shutil.rmtree(old, ignore_errors=True)

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
