"""build_addon.py: the zip layout, reproducibility, and Blender's own extension validator."""

import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))
import build_addon  # noqa: E402


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    out = tmp_path_factory.mktemp("dist")
    return build_addon.build(out)


def test_zip_layout(built):
    meta = build_addon.manifest()
    assert built.name == f"{meta['id']}-{meta['version']}.zip"
    names = zipfile.ZipFile(built).namelist()
    top = meta["id"]
    assert all(n.startswith(f"{top}/") for n in names)  # one top folder: installs as extension and legacy add-on
    for required in ("__init__.py", "blender_manifest.toml", "ui.py", "operators.py", "backend.py", "rig.py",
                     "bake.py", "backend_requirements.txt", "lib/motion_core/motion/retarget.py",
                     "lib/motion_core/motion/skeleton.py", "lib/motion_core/errors.py"):
        assert f"{top}/{required}" in names, required
    assert not [n for n in names if "__pycache__" in n or n.endswith((".pyc", ".whl", ".so", ".pt", ".pkl"))]
    assert f"{top}/demo.py" not in names and f"{top}/bench_bake.py" not in names
    weights = (REPO_ROOT / "motion_core" / "weights" / "default")
    shipped = [p.name for p in weights.glob("*")
               if p.name == "config.json" or p.name.startswith(("vae", "denoiser", "evaluator"))]
    # the generator's files (one file or shards each) and the evaluator, which judges takes (--candidates), travel
    # with the add-on when they exist
    for name in shipped:
        assert f"{top}/lib/motion_core/weights/default/{name}" in names
    requirements = zipfile.ZipFile(built).read(f"{top}/backend_requirements.txt").decode()
    assert "torch==" in requirements and "numpy" not in requirements  # pinned torch; Blender's own numpy


def test_manifest_fields():
    with open(REPO_ROOT / "blender_addon" / "blender_manifest.toml", "rb") as f:
        meta = tomllib.load(f)
    assert meta["blender_version_min"] == "4.2.0"
    assert isinstance(meta["permissions"], dict)  # a table, not a list (4.2 rejects the list form)
    assert all(len(v) <= 64 and not v.endswith(".") for v in meta["permissions"].values())
    assert len(meta["tagline"]) <= 64 and meta["tagline"][-1].isalnum()


def test_build_is_reproducible(built, tmp_path):
    again = build_addon.build(tmp_path)
    assert again.read_bytes() == built.read_bytes()


def test_blender_validator_accepts_the_zip(built):
    if build_addon.find_validator() is None:
        pytest.skip("bpy (Blender's extension validator) not installed")
    ok, output = build_addon.validate(built)
    assert ok, output


def test_validator_rejects_a_broken_manifest(tmp_path):
    if build_addon.find_validator() is None:
        pytest.skip("bpy not installed")
    bad = tmp_path / "bad.zip"
    with zipfile.ZipFile(bad, "w") as archive:
        archive.writestr("x/__init__.py", "")
        archive.writestr("x/blender_manifest.toml", 'schema_version = "1.0.0"\nid = "x"\npermissions = ["files"]\n')
    ok, _ = build_addon.validate(bad)
    assert not ok


def test_cli_prints_json(tmp_path):
    proc = subprocess.run([sys.executable, str(REPO_ROOT / "build_addon.py"), "--out", str(tmp_path), "--no-weights"],
                          capture_output=True, text=True, check=True)
    assert '"zip"' in proc.stdout and (tmp_path / "motion_mamba-0.1.0.zip").is_file()
