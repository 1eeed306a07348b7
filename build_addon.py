"""Build the installable Blender extension: dist/<id>-<version>.zip.

    python build_addon.py [--out dist] [--no-weights] [--validate]

The zip holds one folder `<id>/` with the add-on (blender_addon/*), `blender_manifest.toml`, the pure-Python engine in
`lib/motion_core/` (source only: its torch parts run in the worker, never inside Blender) with the default weights
when they exist, and `backend_requirements.txt` (the pinned packages the private-backend installer fetches).
No compiled wheels, so one zip serves Blender 4.2 LTS through 5.x on Python 3.11 and 3.13.
--validate runs Blender's own extension validator (blender_ext.py, shipped inside the `bpy` wheel) on the zip.
"""

import argparse
import fnmatch
import json
import os
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent
ADDON_DIR = ROOT / "blender_addon"
ENGINE_DIR = ROOT / "motion_core"
# Development-only files that stay out of the zip.
EXCLUDE = ["__pycache__", "*.pyc", ".*", "*.zip", "lib"]
# The evaluator (7 MB) travels: it is also the judge that picks the best of several takes (motion_core.candidates).
ENGINE_EXCLUDE = ["__pycache__", "*.pyc", ".*", "*.ckpt", "*.pt", "*.pth", "*.pkl"]
SKIP_REQUIREMENTS = {"numpy", "matplotlib"}  # Blender ships numpy; previews are not needed by the worker


def _excluded(name, patterns):
    return any(fnmatch.fnmatch(name, p) for p in patterns)


def _walk(folder: Path, patterns, with_weights=True):
    for dirpath, dirnames, filenames in os.walk(folder):
        rel_dir = Path(dirpath).relative_to(folder)
        dirnames[:] = sorted(d for d in dirnames if not _excluded(d, patterns)
                             and (with_weights or (rel_dir / d).as_posix() != "weights/default"))
        for name in sorted(filenames):
            if not _excluded(name, patterns):
                yield Path(dirpath) / name


def manifest():
    with open(ADDON_DIR / "blender_manifest.toml", "rb") as f:
        return tomllib.load(f)


def backend_requirements() -> str:
    lines = []
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        name = line.split("#", 1)[0].strip()
        if name and name.split("=")[0].split("<")[0].split(">")[0].strip().lower() not in SKIP_REQUIREMENTS:
            lines.append(name)
    return "\n".join(lines) + "\n"


def build(out_dir: Path, with_weights: bool = True) -> Path:
    meta = manifest()
    out_dir.mkdir(parents=True, exist_ok=True)
    zip_path = out_dir / f"{meta['id']}-{meta['version']}.zip"
    top = meta["id"]
    fixed_time = (2024, 1, 1, 0, 0, 0)  # reproducible zips: same inputs, same bytes
    with zipfile.ZipFile(zip_path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        def add(path: Path, arcname: str):
            info = zipfile.ZipInfo(arcname, date_time=fixed_time)
            info.external_attr = 0o644 << 16
            # float weights barely compress: store them, deflate the rest
            info.compress_type = zipfile.ZIP_STORED if path.suffix == ".safetensors" else zipfile.ZIP_DEFLATED
            archive.writestr(info, path.read_bytes())

        for path in _walk(ADDON_DIR, EXCLUDE):
            add(path, f"{top}/{path.relative_to(ADDON_DIR).as_posix()}")
        for path in _walk(ENGINE_DIR, ENGINE_EXCLUDE, with_weights=with_weights):
            add(path, f"{top}/lib/motion_core/{path.relative_to(ENGINE_DIR).as_posix()}")
        info = zipfile.ZipInfo(f"{top}/backend_requirements.txt", date_time=fixed_time)
        info.external_attr = 0o644 << 16
        archive.writestr(info, backend_requirements())
    return zip_path


def find_validator():
    """Blender's extension CLI inside the installed bpy wheel, or None."""
    try:
        import importlib.util

        spec = importlib.util.find_spec("bpy")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for base in spec.submodule_search_locations:
        for candidate in sorted(Path(base).glob("*/scripts/addons_core/bl_pkg/cli/blender_ext.py")):
            return candidate
    return None


def validate(zip_path: Path):
    """Run Blender's validator on the zip -> (ok, output)."""
    validator = find_validator()
    if validator is None:
        return False, "Blender's validator not found: install bpy (pip install bpy==5.0.1)"
    proc = subprocess.run([sys.executable, str(validator), "validate", str(zip_path)], capture_output=True, text=True)
    return proc.returncode == 0, (proc.stdout + proc.stderr).strip()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "dist"), help="output folder (default dist/)")
    parser.add_argument("--no-weights", action="store_true", help="leave the default weights out of the zip")
    parser.add_argument("--validate", action="store_true", help="run Blender's extension validator on the zip")
    args = parser.parse_args(argv)
    zip_path = build(Path(args.out), with_weights=not args.no_weights)
    has_weights = any(n.startswith(f"{manifest()['id']}/lib/motion_core/weights/default/")
                      for n in zipfile.ZipFile(zip_path).namelist())
    report = {"zip": str(zip_path), "bytes": zip_path.stat().st_size, "default_weights": has_weights}
    status = 0
    if args.validate:
        ok, output = validate(zip_path)
        report["validator"] = "ok" if ok else "failed"
        report["validator_output"] = output.splitlines()[-3:]
        status = 0 if ok else 1
    print(json.dumps(report))
    return status


if __name__ == "__main__":
    sys.exit(main())
