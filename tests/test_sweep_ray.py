"""Sweeps on Ray (jaxgru.runs.ray_engine): the same runs as the local engine, a failed run reported
in one line while the others finish; and --engine ray without Ray, one line. (Skipping finished
runs happens before either engine: tests/test_experiment.py.)"""

from __future__ import annotations

import json
import sys

import pytest
from conftest import data_dir

from jaxgru.runs import sweep

ARGS = ["--hidden", "8", "--population", "4", "--generations", "1", "--epochs", "1", "--train-size", "600",
        "--calib-size", "100", "--val-size", "100", "--test-size", "100", "--mode", "ptq"]


def test_ray_sweep_equals_the_local_engine_and_reports_a_failed_run(tmp_path, capsys):
    ray = pytest.importorskip("ray", reason="Ray is not installed (pip install 'jaxgru[ray]')")
    args = [*ARGS, "--data-dir", str(data_dir())]
    assert sweep.main([*args, "--seeds", "0", "--out", str(tmp_path / "local")]) == 0
    damaged = tmp_path / "ray" / "seed1" / "float_model"  # seed 1 reads a damaged float model and fails
    damaged.mkdir(parents=True)
    (damaged / "_CHECKPOINT_METADATA").write_text("not a checkpoint")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        assert sweep.main([*args, "--seeds", "0", "1", "--engine", "ray", "--out", str(tmp_path / "ray")]) == 2
        out, err = capsys.readouterr()
        assert "2 of 2 runs to do, as Ray tasks" in out and "seed0: finished" in out
        assert "seed1: failed: RuntimeError: cannot read the float model checkpoint" in out
        assert "1 run(s) failed: seed1" in err
        for name in ("front.json", "baseline.json"):
            assert (json.loads((tmp_path / "ray" / "seed0" / name).read_text())
                    == json.loads((tmp_path / "local" / "run" / name).read_text()))
        assert (tmp_path / "ray" / "sweep.csv").read_text().count("\n") == 2  # header and the finished run
    finally:
        ray.shutdown()


def test_engine_ray_without_ray_is_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # as if it were not installed
    assert sweep.main([*ARGS, "--seeds", "0", "--engine", "ray", "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err.strip()
    assert err == ("error: --engine ray needs Ray, which is not installed; install it with: "
                   "pip install 'jaxgru[ray]'")
    assert not (tmp_path / "x").exists()
