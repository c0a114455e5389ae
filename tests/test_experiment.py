"""experiments/run.py end to end on tiny settings, and its refusals of bad input."""

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
from conftest import REPO, TINY, data_dir, run_dir_with

from jaxgru.runs import cli as run
from jaxgru.runs import sweep
from jaxgru.runs.config import PRESETS, Config
from jaxgru.runs.processes import available_cores


def test_run_writes_every_output(tmp_path):
    out = tmp_path / "run"
    assert run.main(TINY + ["--data-dir", str(data_dir()), "--out", str(out)]) == 0
    for name in ("config.json", "front.json", "baseline.json", "evaluated.csv", "history.csv", "pareto.png",
                 "history.png", "summary.json"):
        assert (out / name).is_file(), name
    front = json.loads((out / "front.json").read_text())
    baseline = json.loads((out / "baseline.json").read_text())
    assert [b["bits"] for b in baseline] == [[b] * 17 for b in range(2, 9)]
    for row in front + baseline:
        assert len(row["bits"]) == 17 and 0.0 <= row["accuracy"] <= 1.0
        assert 0.0 < row["size_ratio"] <= 0.5 and row["size_bits"] > 0
    # The front is non-dominated and sorted by size.
    acc = np.array([f["accuracy"] for f in front])
    size = np.array([f["size_ratio"] for f in front])
    assert np.all(np.diff(size) > 0) and np.all(np.diff(acc) > 0)
    evaluated = np.genfromtxt(out / "evaluated.csv", delimiter=",", names=True)
    assert len(evaluated) == 6 * 3 and set(evaluated["generation"]) == {0, 1, 2}
    history = np.genfromtxt(out / "history.csv", delimiter=",", names=True)
    assert list(history["generation"]) == [0, 1, 2] and np.all(np.diff(history["hypervolume"]) >= 0)
    config = json.loads((out / "config.json").read_text())
    assert config["seed"] == 0 and config["population"] == 6
    # A second run into the same folder must not silently overwrite the checkpointed search.
    assert run.main(TINY + ["--data-dir", str(data_dir()), "--out", str(out)]) == 2
    # Resuming a finished run with other settings is refused.
    assert run.main(TINY[:-1] + ["--seed", "5", "--resume", "--quiet", "--data-dir", str(data_dir()),
                                 "--out", str(out)]) == 2


def test_quiet_run_prints_nothing(tmp_path, capfd, tiny_float_model):
    out = run_dir_with(tiny_float_model, tmp_path / "q")
    assert run.main(TINY + ["--data-dir", str(data_dir()), "--out", str(out)]) == 0  # TINY has --quiet
    out, err = capfd.readouterr()
    assert out == "" and err == "", (out, err)
    assert (tmp_path / "q" / "summary.json").is_file()


def test_qat_run_fine_tunes_every_specimen(tmp_path, tiny_float_model):
    out = run_dir_with(tiny_float_model, tmp_path / "qat")
    args = TINY[: TINY.index("--mode")] + ["--mode", "qat", "--qat-fraction", "0.005", "--qat-learning-rate", "1e-3",
                                           "--seed-homogeneous", "--population", "8", "--generations", "1",
                                           "--quiet",
                                           "--data-dir", str(data_dir()), "--out", str(out)]
    assert run.main(args) == 0
    evaluated = np.genfromtxt(out / "evaluated.csv", delimiter=",", skip_header=1, dtype=int)
    first = evaluated[evaluated[:, 0] == 0][:, 1:18]
    np.testing.assert_array_equal(first[:7], np.repeat(np.arange(2, 9)[:, None], 17, 1))  # seeded
    summary = json.loads((out / "summary.json").read_text())
    assert summary["mode"] == "qat" and summary["source"] == "MNIST" and not summary["synthetic"]
    assert json.loads((out / "config.json").read_text())["qat_fraction"] == 0.005


def test_speech_run_is_marked_synthetic(tmp_path, monkeypatch):
    from jaxgru.data import speech

    if not speech.espeak_available():
        pytest.skip("espeak-ng is not installed")
    small = speech.generate_synthetic(speech.KEYWORDS10, 8, seed=0)
    monkeypatch.setattr(speech, "synthetic_clips", lambda *a, **k: small)
    out = tmp_path / "speech"
    args = ["--task", "speech4", "--hidden", "8", "--population", "4", "--generations", "1", "--epochs", "1",
            "--batch-size", "8", "--quiet", "--out", str(out)]
    assert run.main(args) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["synthetic"] and "synthetic" in summary["source"] and summary["mode"] == "ptq"


@pytest.mark.parametrize(
    "args, message",
    [
        (["--task", "mnist_colum"], "unknown task"),
        (["--population", "3"], "even number >= 4"),
        (["--population", "7"], "even number >= 4"),
        (["--generations", "0"], "generations must be >= 1"),
        (["--qat-fraction", "0"], "--qat-fraction must lie in (0, 1]"),
        (["--val-size", "0"], "--val-size must be a positive integer"),
        (["--population", "6", "--seed-homogeneous"], "7 homogeneous genomes (one per width) into a population of "
                                                      "6; give a --population of at least 7"),
    ],
)
def test_bad_arguments(tmp_path, capsys, args, message):
    assert run.main(args + ["--out", str(tmp_path / "x"), "--quiet"]) == 2
    assert message in capsys.readouterr().err


def test_missing_data(tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    assert run.main(TINY + ["--data-dir", str(empty), "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert "MNIST not found" in err and "--data-dir" in err


def test_unreadable_float_checkpoint(tmp_path, capsys):
    out = tmp_path / "run"
    (out / "float_model").mkdir(parents=True)
    (out / "float_model" / "junk").write_text("not a checkpoint")
    assert run.main(TINY + ["--data-dir", str(data_dir()), "--out", str(out)]) == 2
    assert "cannot read the float model checkpoint" in capsys.readouterr().err


def test_readme_commands_exist():
    readme = (REPO / "README.md").read_text()
    assert "python -m pytest -q -n 2" in readme
    assert "python experiments/run.py --task mnist_row" in readme
    assert Path(REPO / ".ci" / "run").read_text().count("python -m pytest -q -n 2") == 1


def test_sweep_takes_a_preset_and_flags_override_it():
    grid = sweep.configs(sweep.parse_args(["--preset", "quick", "--seeds", "0", "1", "--hidden", "32"]))
    assert [name for name, *_ in grid] == ["seed0", "seed1"]
    quick = {k: v for k, v in PRESETS["quick"].items() if k != "out"}
    for seed, (_, _, cfg, _) in enumerate(grid):
        assert cfg == dataclasses.replace(Config(**quick), hidden=32, seed=seed)


def test_sweep_gathers_runs_skips_finished_and_jobs_agree(tmp_path, capsys):
    """A sweep's table and plot; a second call skips finished runs; --jobs 2 (two spawned
    processes, each on its own core) gives the runs of --jobs 1 exactly."""
    args = ["--seeds", "0", "1", "--hidden", "8", "--population", "4", "--generations", "1", "--epochs", "1",
            "--train-size", "600", "--calib-size", "100", "--val-size", "100", "--test-size", "100", "--mode", "ptq",
            "--data-dir", str(data_dir())]
    assert sweep.main([*args, "--out", str(tmp_path / "one")]) == 0
    rows = np.genfromtxt(tmp_path / "one" / "sweep.csv", delimiter=",", names=True, dtype=None, encoding=None)
    assert len(rows) == 2 and set(rows["seed"]) == {0, 1}
    assert (tmp_path / "one" / "sweep.png").is_file() and (tmp_path / "one" / "sweep.md").is_file()
    capsys.readouterr()
    assert sweep.main([*args, "--out", str(tmp_path / "one")]) == 0
    assert capsys.readouterr().out.count("done before, skipped") == 2
    assert sweep.main([*args, "--jobs", "999", "--out", str(tmp_path / "bad")]) == 2
    assert "jobs must be between 1 and the" in capsys.readouterr().err
    assert not (tmp_path / "bad").exists()
    if len(available_cores()) < 2:
        pytest.skip("--jobs 2 needs two CPU cores")
    assert sweep.main([*args, "--jobs", "2", "--out", str(tmp_path / "two")]) == 0
    assert "2 of 2 runs to do, 2 at a time" in capsys.readouterr().out
    for seed in ("seed0", "seed1"):
        a, b = (json.loads((tmp_path / d / seed / "summary.json").read_text()) for d in ("two", "one"))
        a.pop("search_seconds"), b.pop("search_seconds")
        assert a == b
        assert (tmp_path / "two" / seed / "evaluated.csv").read_text() == (tmp_path / "one" / seed /
                                                                          "evaluated.csv").read_text()


def test_report_gathers_runs_into_a_table(tmp_path):
    from jaxgru.studies import report
    front = [{"bits": [3] * 17, "accuracy": 0.95, "size_bits": 300, "test_accuracy": 0.94},
             {"bits": [4] * 17, "accuracy": 0.97, "size_bits": 400, "test_accuracy": 0.96}]
    base = [{"bits": [b] * 17, "accuracy": a, "size_bits": s} for b, a, s in
            [(2, 0.1, 200), (3, 0.5, 300), (4, 0.97, 400), (8, 0.975, 800)]]
    assert report.dominated(front, base[1]) and not report.dominated(front, base[2])  # equal is not dominated
    assert report.dominated(front, {"accuracy": 0.96, "size_bits": 800})
    run_dir = tmp_path / "speech4"
    run_dir.mkdir()
    (run_dir / "front.json").write_text(json.dumps(front))
    (run_dir / "baseline.json").write_text(json.dumps(base))
    (run_dir / "config.json").write_text(json.dumps({"population": 40, "generations": 20, "val_size": None}))
    (run_dir / "summary.json").write_text(json.dumps({
        "source": "synthetic keywords (espeak-ng)", "synthetic": True, "mode": "ptq", "hidden": 128,
        "float_val_accuracy": 0.98, "float_test_accuracy": 0.97, "int8_val_accuracy": 0.975,
        "int8_test_accuracy": 0.97, "best_within_1pt_of_int8": front[1], "size_reduction_vs_int8": 0.5,
        "search_seconds": 120.0}))
    readme = tmp_path / "README.md"
    readme.write_text("intro\n<!-- reproduction:start -->\nold\n<!-- reproduction:end -->\nrest\n")
    assert report.main(["--results", str(tmp_path), "--readme", str(readme)]) == 0
    text = readme.read_text()
    assert "old" not in text and "SYNTHETIC" in text and "| 50.0% | 1/3 |" in text and text.endswith("rest\n")
    assert (tmp_path / "reproduction.csv").is_file()
    assert report.main(["--results", str(tmp_path / "none")]) == 2
    # Seeds: a sweep folder results/seeds_*/ gathered into mean and spread.
    for seed, (reduction, hv) in enumerate([(0.5, 0.80), (0.3, 0.78), (None, 0.70)]):
        d = tmp_path / "seeds_x" / f"seed{seed}"
        d.mkdir(parents=True)
        for name in ("front.json", "baseline.json", "config.json"):
            (d / name).write_text((run_dir / name).read_text())
        summary = json.loads((run_dir / "summary.json").read_text())
        summary.update(size_reduction_vs_int8=reduction, final_hypervolume=hv, task="speech4")
        (d / "summary.json").write_text(json.dumps(summary))
    lines = report.seeds_report(tmp_path)
    assert "| 3 |" in lines[2] and "40.0 ± 14.1 (30.0-50.0); none in 1" in lines[2]
    assert "0.7600 ± 0.0529 (0.7000-0.8000)" in lines[2] and "1.0 of 6 (1, 1, 1)" in lines[2]
    # Shrink and Eliminate: results/shrink_eliminate/<task>_seed<N>/cell<cell>/ gathered per task and cell.
    for seed, (compression, eliminated) in enumerate([(0.86, 0.7), (None, None), (0.84, 0.8)]):
        d = tmp_path / "shrink_eliminate" / f"mnist_row_seed{seed}" / "cellligru"
        d.mkdir(parents=True)
        (d / "summary.json").write_text(json.dumps({
            "cell": "ligru", "float_val_accuracy": 0.99, "int8_val_accuracy": 0.98,
            "size_reduction_vs_float32_within_2pt_of_float": compression, "size_reduction_vs_float32": compression,
            "most_eliminated_within_1pt_of_same_widths": eliminated, "most_eliminated_within_1pt_of_int8": None}))
    lines = report.shrink_eliminate_report(tmp_path)
    row = lines[2]
    assert row.startswith("| mnist_row | LiGRU | 0, 1, 2 |")
    assert "85.0 ± 1.4 (84.0-86.0); 86.0 / none / 84.0" in row and "75.0 ± 7.1 (70.0-80.0); 70.0 / none / 80.0" in row
    assert row.endswith("| none |") and (tmp_path / "shrink_eliminate.csv").is_file()


def test_settings_are_declared_once():
    """run.py's options are Config's and RunOptions' fields; the sweep takes several values of
    any setting, QAT settings and seeding included, and runs every combination."""
    import argparse
    import dataclasses

    from jaxgru.runs.config import Config, RunOptions, add_arguments, grid_from_args

    cfg, opts = run.parse_args(["--cell", "sru", "--qat-float-surrogate", "--seed-homogeneous", "--out", "x"])
    assert cfg == Config(cell="sru", qat_exact=False, seed_homogeneous=True) and opts == RunOptions(out="x")
    p = argparse.ArgumentParser()
    add_arguments(p, Config, many=True)
    ns = p.parse_args(["--seed", "0", "1", "--qat-learning-rate", "1e-4", "1e-3", "--seed-homogeneous", "no", "yes",
                       "--cell", "lstm"])
    grid = grid_from_args(ns)
    assert len(grid) == 8
    assert {tuple(v) for v, _ in grid} == {("seed", "qat_learning_rate", "seed_homogeneous")}
    assert {(c.seed, c.qat_learning_rate, c.seed_homogeneous) for _, c in grid} == {
        (s, lr, h) for s in (0, 1) for lr in (1e-4, 1e-3) for h in (False, True)}
    assert all(c.cell == "lstm" and c.qat_exact for _, c in grid)
    flags = {a.dest for a in p._actions} - {"help"}
    assert flags == {f.name for f in dataclasses.fields(Config)}


def test_resume_accepts_a_config_written_before_cells(tmp_path):
    """A config.json from before the cell setting (and with the old run-only keys) reads as the GRU."""
    import dataclasses

    from jaxgru.runs.config import Config, saved_settings

    old = dataclasses.asdict(Config())
    old.pop("cell")
    old.update(resume=False, progress=True, out=None, data_dir=None, download=False)
    path = tmp_path / "config.json"
    path.write_text(json.dumps(old))
    assert saved_settings(path) == dataclasses.asdict(Config())
    assert saved_settings(path) != dataclasses.asdict(Config(cell="lstm"))


def test_a_config_older_than_a_setting_reads_as_what_runs_did_then(tmp_path):
    """Before `mode` every run was PTQ (today's default on MNIST is QAT), and the first QAT ran
    the float surrogate: a config.json without those keys must rerun as that, not as today's
    defaults."""
    import dataclasses

    from jaxgru.runs.config import TEXTBOOK_SEARCH, Config, saved_settings

    old = dataclasses.asdict(Config(task="mnist_row", crossover="uniform", mutation="reset"))
    for key in ("mode", "qat_exact", "crossover_rate", "crossover_eta", "mutation_eta", "selection"):
        old.pop(key)
    path = tmp_path / "config.json"
    path.write_text(json.dumps(old))
    cfg = Config(**saved_settings(path))
    assert cfg.resolved_mode() == "ptq" and Config(task="mnist_row").resolved_mode() == "qat"
    assert cfg.qat_exact is False
    # the search settings added after the first runs: the textbook search those runs made
    assert {k: getattr(cfg, k) for k in TEXTBOOK_SEARCH} == TEXTBOOK_SEARCH != {
        k: getattr(Config(), k) for k in TEXTBOOK_SEARCH}
    # a setting written down is read as written
    path.write_text(json.dumps(dataclasses.asdict(Config(task="mnist_row"))))
    assert Config(**saved_settings(path)) == Config(task="mnist_row")


def test_textbook_preset_is_the_search_the_older_runs_made():
    """``--preset textbook`` gives the search settings a run older than them is read with."""
    from jaxgru.runs.config import TEXTBOOK_SEARCH
    from jaxgru.studies.pymoo_compare import DEFAULTS, VARIANTS

    cfg, _ = run.parse_args(["--preset", "textbook", "--task", "digits"])
    assert {k: getattr(cfg, k) for k in TEXTBOOK_SEARCH} == TEXTBOOK_SEARCH and cfg.task == "digits"
    # the comparison's row named as the defaults is the run defaults
    defaults = Config(**VARIANTS[DEFAULTS])
    search = ("crossover", "mutation", "crossover_rate", "crossover_eta", "mutation_eta", "selection", "offspring",
              "duplicates", "mutation_rate", "seed_homogeneous", "islands")
    assert {k: getattr(defaults, k) for k in search} == {k: getattr(Config(), k) for k in search}


def test_quick_preset_and_flags_over_it():
    from jaxgru.runs.config import PRESETS

    cfg, opts = run.parse_args(["--preset", "quick"])
    assert cfg.hidden == PRESETS["quick"]["hidden"] and cfg.mode == "ptq" and cfg.seed_homogeneous
    assert opts.out == "runs/quick"
    cfg, opts = run.parse_args(["--preset", "quick", "--hidden", "16", "--out", "elsewhere"])
    assert cfg.hidden == 16 and cfg.train_size == PRESETS["quick"]["train_size"] and opts.out == "elsewhere"
    cfg, _ = run.parse_args([])
    assert cfg.hidden == 128 and not cfg.seed_homogeneous  # no preset: the paper's settings
