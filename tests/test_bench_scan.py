"""`motion-mamba bench scan`: one JSON object with a row per shape and backend, errors against the reference, and a
plot drawn from a run or from a saved report."""

import json

from motion_core.cli import main


def test_cpu_run_prints_one_json_object_and_draws_a_plot(tmp_path, capsys):
    png = tmp_path / "scan.png"
    code = main(["bench", "scan", "--device", "cpu", "--shapes", "2x8x16", "--backends", "ref,chunked,blocked",
                 "--repeats", "1", "--json", "--plot", str(png), "--out", str(tmp_path / "scan.json")])
    assert code == 0
    report = json.loads(capsys.readouterr().out)
    rows = {row["backend"]: row for row in report["results"]}
    assert set(rows) == {"ref", "chunked", "blocked"}
    for row in rows.values():
        assert row["shape"] == [2, 8, 16] and row["median_us"] > 0
        assert row["max_abs_err"] < 1e-4  # every backend against the fp64 reference
    assert png.stat().st_size > 5000

    again = tmp_path / "again.png"
    assert main(["bench", "scan", "--from-json", str(tmp_path / "scan.json"), "--plot", str(again)]) == 0
    assert again.stat().st_size > 5000


def test_from_json_without_plot_is_a_user_error(tmp_path, capsys):
    assert main(["bench", "scan", "--from-json", str(tmp_path / "missing.json")]) == 2
    assert "--plot" in capsys.readouterr().err
