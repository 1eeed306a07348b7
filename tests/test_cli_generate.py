"""`motion-mamba generate` end to end on a tiny random model saved to a temporary weights folder."""

import json

import numpy as np
import pytest

from motion_core import cli
from motion_core import generator as generator_module
from motion_core.generator import MotionGenerator
from motion_core.models.config import ModelConfig


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    folder = tmp_path_factory.mktemp("weights")
    from motion_core.models.text_encoder import TextEncoder

    MotionGenerator.random(ModelConfig.tiny(), seed=0, text_encoder=TextEncoder()).save_pretrained(folder)
    return folder


def test_generate_writes_npz_variations_and_prints_json(weights, tmp_path, capsys):
    pytest.importorskip("motion_core.motion.export")
    out = tmp_path / "walk.npz"
    code = cli.main(["generate", "a person walks forward", "--seconds", "1.5", "--seed", "7", "--steps", "4",
                     "--variations", "2", "--device", "cpu", "--weights", str(weights), "--out", str(out), "--json"])
    captured = capsys.readouterr()
    assert code == 0
    summary = json.loads(captured.out)
    assert summary["frames"] == 30 and summary["fps"] == 20.0 and summary["seconds"] == 1.5
    assert summary["device"] == "cpu" and summary["seed"] == 7 and summary["elapsed_s"] > 0
    assert summary["outputs"] == [str(out), str(tmp_path / "walk_1.npz")]
    assert "sampling [" in captured.err and "4/4" in captured.err  # the progress bar goes to stderr
    with np.load(out) as data:
        assert data["joints"].shape == (30, 22, 3)
    with np.load(tmp_path / "walk_1.npz") as first, np.load(out) as zeroth:
        assert not np.allclose(first["joints"], zeroth["joints"])


def test_generate_writes_bvh(weights, tmp_path, capsys):
    pytest.importorskip("motion_core.motion.export")
    out = tmp_path / "jump.bvh"
    code = cli.main(["generate", "a person jumps", "--seconds", "1", "--steps", "2", "--device", "cpu",
                     "--weights", str(weights), "--out", str(out)])
    assert code == 0
    assert out.read_text().startswith("HIERARCHY")
    assert f"wrote {out}" in capsys.readouterr().out


@pytest.mark.parametrize("argv, message", [
    (["--seconds", "30"], "between 1 and 9.8"),
    (["--seconds", "2", "--steps", "0"], "steps"),
    (["--seconds", "2", "--out-ext", ".txt"], "must end in .bvh or .npz"),
])
def test_bad_arguments_print_one_error_line_and_exit_2(weights, tmp_path, capsys, argv, message):
    suffix = ".npz"
    if "--out-ext" in argv:
        suffix = argv[argv.index("--out-ext") + 1]
        argv = argv[: argv.index("--out-ext")]
    code = cli.main(["generate", "walk", *argv, "--device", "cpu", "--weights", str(weights),
                     "--out", str(tmp_path / f"x{suffix}")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert err[-1].startswith("error: ") and message in err[-1]


def test_no_weights_installed_says_how_to_pass_them(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(generator_module, "DEFAULT_WEIGHTS_DIR", tmp_path / "none")
    code = cli.main(["generate", "walk", "--seconds", "2", "--out", str(tmp_path / "x.npz")])
    err = capsys.readouterr().err
    assert code == 2 and "no trained weights are installed" in err and "--weights" in err


def test_foot_cleanup_is_on_unless_no_foot_cleanup(weights, tmp_path, capsys, monkeypatch):
    seen = []
    original = MotionGenerator.generate

    def spy(self, *args, **kwargs):
        seen.append(kwargs["foot_cleanup"])
        return original(self, *args, **kwargs)

    monkeypatch.setattr(MotionGenerator, "generate", spy)
    summaries = []
    for extra in ([], ["--no-foot-cleanup"]):
        code = cli.main(["generate", "walk", "--seconds", "1", "--seed", "3", "--steps", "2", "--device", "cpu",
                         "--weights", str(weights), "--out", str(tmp_path / "w.npz"), "--json", *extra])
        assert code == 0
        summaries.append(json.loads(capsys.readouterr().out))
    assert seen == [True, False]
    assert [s["foot_cleanup"] for s in summaries] == [True, False]


@pytest.fixture(scope="module")
def temporal_weights(tmp_path_factory):
    folder = tmp_path_factory.mktemp("temporal_weights")
    from motion_core.models.text_encoder import TextEncoder

    MotionGenerator.random(ModelConfig.tiny_temporal(), seed=0, text_encoder=TextEncoder()).save_pretrained(folder)
    return folder


def test_timeline_inline_and_file_write_segment_boundaries(temporal_weights, tmp_path, capsys):
    out = tmp_path / "take.npz"
    code = cli.main(["generate", "--timeline", "a person walks forward:2; a person sits down:1.5", "--seed", "2",
                     "--steps", "2", "--device", "cpu", "--weights", str(temporal_weights), "--out", str(out),
                     "--json"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    summary = json.loads(captured.out)
    assert summary["frames"] == 70 and summary["segments"] == [
        {"prompt": "a person walks forward", "start_frame": 0, "end_frame": 40},
        {"prompt": "a person sits down", "start_frame": 40, "end_frame": 70}]
    with np.load(out) as data:
        assert data["joints"].shape == (70, 22, 3)
        assert list(data["segment_prompts"]) == ["a person walks forward", "a person sits down"]
        assert list(data["segment_starts"]) == [0, 40] and list(data["segment_ends"]) == [40, 70]
    shot = tmp_path / "shot.json"
    shot.write_text(json.dumps({"segments": [{"prompt": "a person walks forward", "seconds": 2},
                                             {"prompt": "a person sits down", "seconds": 1.5}]}))
    bvh = tmp_path / "take.bvh"
    assert cli.main(["generate", "--timeline", str(shot), "--seed", "2", "--steps", "2", "--device", "cpu",
                     "--weights", str(temporal_weights), "--out", str(bvh)]) == 0
    assert bvh.read_text().startswith("HIERARCHY") and "Frames: 70" in bvh.read_text()


@pytest.mark.parametrize("argv, message", [
    (["walk", "--seconds", "2", "--timeline", "walk:2"], "not both"),
    (["walk"], "or --timeline"),
    (["--timeline", "walk:0.5"], "at least 1 s"),
    (["--timeline", "walk"], "PROMPT:SECONDS"),
])
def test_timeline_arguments_are_checked(temporal_weights, tmp_path, capsys, argv, message):
    code = cli.main(["generate", *argv, "--device", "cpu", "--weights", str(temporal_weights),
                     "--out", str(tmp_path / "x.npz")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and err[-1].startswith("error: ") and message in err[-1]


@pytest.mark.parametrize("argv", [["--help"], ["bench", "--help"], ["corpus", "--help"], ["train", "--help"],
                                  ["evaluate", "--help"], ["generate", "--help"]])
def test_every_help_page_renders(argv, capsys):
    """argparse %-formats help strings: a bare % in one command's help breaks `--help` for its whole group."""
    with pytest.raises(SystemExit) as exit_info:
        cli.main(argv)
    assert exit_info.value.code == 0 and "usage:" in capsys.readouterr().out


def test_sampler_flag_picks_dpmpp_and_defaults_to_ddim(weights, tmp_path, capsys):
    summaries = {}
    for extra in ([], ["--sampler", "dpmpp_2m"]):
        out = tmp_path / f"walk{len(extra)}.npz"
        code = cli.main(["generate", "a person walks forward", "--seconds", "1.5", "--seed", "7", "--steps", "4",
                         "--device", "cpu", "--weights", str(weights), "--out", str(out), "--json", *extra])
        assert code == 0
        summaries[len(extra)] = json.loads(capsys.readouterr().out)
    assert summaries[0]["sampler"] == "ddim" and summaries[2]["sampler"] == "dpmpp_2m"
    with pytest.raises(SystemExit):  # argparse rejects a sampler outside the closed set
        cli.main(["generate", "a person walks", "--seconds", "1.5", "--sampler", "euler", "--device", "cpu",
                  "--weights", str(weights), "--out", str(tmp_path / "x.npz")])
    assert "invalid choice: 'euler'" in capsys.readouterr().err
