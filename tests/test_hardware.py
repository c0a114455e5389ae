"""Hardware-aware runs end to end (MOHAQ): platform width sets and objectives, more than two
objectives, constraints, and beacon-based search."""

import csv
import json
import re

import numpy as np
import pytest
from conftest import TINY, data_dir, run_dir_with

from jaxgru.cells import get_cell
from jaxgru.cells.genome import PLATFORM_WIDTHS
from jaxgru.data.tasks import get_task
from jaxgru.model.population import population_accuracy
from jaxgru.runs import cli as run
from jaxgru.runs.float_model import read_float_model
from jaxgru.search.beacons import Beacons, nearest_beacon, pick_new_beacons
from jaxgru.search.pareto import dominated_by


def _evaluated(out):
    with open(out / "evaluated.csv") as f:
        rows = list(csv.DictReader(f))
    genes = np.array([[int(v) for k, v in r.items() if re.fullmatch(r"b\d+_\w+", k)] for r in rows])
    return rows, genes


def test_platform_run_draws_only_its_widths(tmp_path, tiny_float_model):
    out = run_dir_with(tiny_float_model, tmp_path / "bf")
    assert run.main(TINY + ["--platform", "bitfusion", "--generations", "4", "--seed-homogeneous",
                            "--data-dir", str(data_dir()), "--out", str(out)]) == 0
    rows, genes = _evaluated(out)
    assert set(np.unique(genes)) <= {2, 4, 8, 16} and 16 in np.unique(genes)  # initial, crossover and mutation
    baseline = json.loads((out / "baseline.json").read_text())
    assert [b["bits"][0] for b in baseline] == [2, 4, 8, 16]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["objectives"] == ["error", "bitfusion_speedup"] and summary["widths"] == [2, 4, 8, 16]
    assert all(float(r["bitfusion_speedup"]) >= 1 for r in rows)
    share = summary["within_1pt_of_widest"]["bitfusion_speedup"]
    assert share is None or 0 <= share["share_of_max"] <= 1


def test_three_objectives_and_a_memory_constraint(tmp_path, tiny_float_model):
    out = run_dir_with(tiny_float_model, tmp_path / "m3")
    # 1.6 kB: half of the first generation is feasible, whatever the search operators do next
    assert run.main(TINY + ["--objectives", "error,size,bitops", "--generations", "3", "--max-memory", "1.6",
                            "--data-dir", str(data_dir()), "--out", str(out)]) == 0
    hist = np.genfromtxt(out / "history.csv", delimiter=",", names=True)
    assert np.all(np.diff(hist["hypervolume"]) >= -1e-7) and hist["hypervolume"][-1] > 0
    front = json.loads((out / "front.json").read_text())
    assert front and all(f["memory"] <= 1600 for f in front)  # only feasible genomes make the front
    memory = np.genfromtxt(out / "evaluated.csv", delimiter=",", names=True)["memory"]
    assert (memory > 1600).any()  # the constraint excluded some
    f = np.array([[1 - r["accuracy"], r["size_bits"], r["bitops"]] for r in front])
    assert not dominated_by(f, f).any()
    assert (out / "pareto.png").is_file()


@pytest.mark.parametrize(
    "args, message",
    [
        (["--objectives", "error,speed"], "unknown objective(s) ['speed']"),
        (["--objectives", "size,error"], "must start with error"),
        (["--widths", "1-8"], "--widths 1-8: widths must lie in 2..16"),
        (["--widths", "4,20"], "widths must lie in 2..16"),
        (["--max-error", "0"], "--max-error must lie in (0, 1]"),
        (["--beacons-per-generation", "0"], "--beacons-per-generation must be >= 1"),
    ],
)
def test_bad_hardware_arguments(tmp_path, capsys, args, message):
    assert run.main(args + ["--out", str(tmp_path / "x"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_unknown_platform_is_refused(capsys):
    with pytest.raises(SystemExit):
        run.main(["--platform", "tpu"])
    assert "invalid choice: 'tpu'" in capsys.readouterr().err


def test_a_constraint_nobody_meets_is_said_and_the_search_goes_on(tmp_path, capsys, tiny_float_model):
    args = [a for a in TINY if a != "--quiet"]
    out = run_dir_with(tiny_float_model, tmp_path / "c")
    assert run.main(args + ["--max-error", "0.001", "--data-dir", str(data_dir()), "--out", str(out)]) == 0
    assert "no genome of the initial population meets the constraints" in capsys.readouterr().out
    assert json.loads((tmp_path / "c" / "front.json").read_text()) == []  # nothing feasible, nothing claimed


# --- beacon-based search -------------------------------------------------------------------------

def test_beacon_picking_rules():
    genes = np.array([[0, 0, 0], [0, 0, 1], [3, 3, 3], [2, 3, 3], [0, 3, 0]])
    err = np.array([0.1, 0.05, 0.2, 0.3, 0.4])
    # Best PTQ error first: [0,0,1]; [0,0,0] is within 2 of it; [3,3,3] is far; [2,3,3] within 2 of that.
    assert pick_new_beacons(genes, err, np.zeros((0, 3), int), threshold=2, limit=5) == [1, 2, 4]
    assert pick_new_beacons(genes, err, np.zeros((0, 3), int), threshold=2, limit=2) == [1, 2]
    assert pick_new_beacons(genes, err, genes[[1, 2, 4]], threshold=2, limit=5) == []
    idx, dist = nearest_beacon(genes, genes[[2, 1]])
    assert idx.tolist() == [1, 1, 0, 0, 1] and dist.tolist() == [1, 0, 0, 1, 4]


BEACON = TINY[: TINY.index("--mode")] + ["--mode", "beacon", "--qat-fraction", "0.005", "--qat-learning-rate", "1e-2",
                                         "--beacon-distance", "3", "--beacons-per-generation", "1", "--quiet",
                                         "--generations", "3"]


def test_beacon_scores_are_the_better_of_ptq_and_the_nearest_beacon(tmp_path, tiny_float_model):
    out = run_dir_with(tiny_float_model, tmp_path / "b")
    assert run.main(BEACON + ["--data-dir", str(data_dir()), "--out", str(out)]) == 0
    rows, genomes = _evaluated(out)
    params, ranges = read_float_model(out / "float_model", get_cell("gru"))
    beacons = Beacons.load(out / "beacons.npz", params, 17)
    assert 1 <= len(beacons) <= 4 and list(beacons.generation) == sorted(beacons.generation)
    splits = get_task("mnist_row").load(data_dir())
    x, y = splits.x_val[:300], splits.y_val[:300]
    last = np.array([r["generation"] == "3" for r in rows])
    g = genomes[last]
    ptq = population_accuracy(params, ranges, g, x, y)
    idx, _ = nearest_beacon(g - 2, beacons.genes)  # widths 2..8: gene index = width - 2
    borrowed = population_accuracy(beacons.weights_for(idx), ranges, g, x, y)
    got = np.array([float(r["accuracy"]) for r in rows])[last]
    np.testing.assert_allclose(got, np.maximum(ptq, borrowed), atol=1e-6)
    assert (borrowed != ptq).any()  # the beacons' weights are not the float model's
    assert json.loads((out / "summary.json").read_text())["beacons"] == len(beacons)


def test_beacon_run_resumed_after_a_kill_equals_the_uninterrupted_one(tmp_path, monkeypatch, tiny_float_model):
    whole, cut = (run_dir_with(tiny_float_model, tmp_path / name) for name in ("whole", "cut"))
    assert run.main(BEACON + ["--data-dir", str(data_dir()), "--out", str(whole)]) == 0
    save = Beacons.save

    def save_then_die(self):  # killed after saving generation 2's beacons
        save(self)
        if self.generation.max() == 2:
            raise KeyboardInterrupt

    monkeypatch.setattr(Beacons, "save", save_then_die)
    with pytest.raises(KeyboardInterrupt):
        run.main(BEACON + ["--data-dir", str(data_dir()), "--out", str(cut)])
    monkeypatch.setattr(Beacons, "save", save)
    assert run.main(BEACON + ["--resume", "--data-dir", str(data_dir()), "--out", str(cut)]) == 0
    for name in ("evaluated.csv", "beacons.csv", "front.json", "baseline.json"):
        assert (whole / name).read_text() == (cut / name).read_text(), name
    assert PLATFORM_WIDTHS["default"].values == tuple(range(2, 9))


def test_mohaq_error_gain_reduction_by_hand():
    from jaxgru.studies import mohaq
    ptq = [{"accuracy": 0.9, "bitfusion_speedup": 10.0}, {"accuracy": 0.8, "bitfusion_speedup": 20.0}]
    beacon = [{"accuracy": 0.95, "bitfusion_speedup": 12.0}, {"accuracy": 0.88, "bitfusion_speedup": 25.0}]
    got = mohaq.error_gain_reduction(ptq, beacon, widest_error=0.02)
    # At 10x: PTQ gains 8 points, the beacon front 3 (its 12x genome); at 20x: 18 against 10.
    assert [round(c["ptq_gain"], 6) for c in got["points"]] == [8.0, 18.0]
    assert [round(c["beacon_gain"], 6) for c in got["points"]] == [3.0, 10.0]
    assert got["max_reduction"] == pytest.approx(8.0) and got["mean_reduction"] == pytest.approx(6.5)
    usable = mohaq.error_gain_reduction(ptq, beacon, widest_error=0.02, usable_gain=10.0)
    assert usable["usable_max_reduction"] == pytest.approx(5.0)  # only the 10x point: PTQ loses 8 <= 10
    assert usable["usable_mean_reduction"] == pytest.approx(5.0)


def test_mohaq_constrained_run_takes_its_ceiling_from_the_16_bit_model(tmp_path):
    from jaxgru.studies import mohaq
    args = mohaq.parse_args(["--out", str(tmp_path), "--tasks", "digits", "--cells", "sru"])
    with pytest.raises(FileNotFoundError, match="run compress first"):
        mohaq.run_config(args, "digits", "sru", "constrained")
    (tmp_path / "digits_sru" / "compress").mkdir(parents=True)
    (tmp_path / "digits_sru" / "compress" / "baseline.json").write_text(
        json.dumps([{"bits": [2], "accuracy": 0.1}, {"bits": [16], "accuracy": 0.9533}]))
    cfg = mohaq.run_config(args, "digits", "sru", "constrained")
    assert cfg.max_error == pytest.approx(1 - 0.9533 + 0.01) and cfg.widths == "2,4,8,16"
    assert mohaq.run_config(args, "digits", "sru", "compress").max_error is None


def test_beacon_compare_takes_every_setting_and_gives_each_search_only_its_own(capsys):
    from jaxgru.studies import beacon_compare as bc
    cfgs = bc.configs(bc.parse_args(["--qat-epochs", "3", "--beacon-distance", "4", "--seed", "2"]))
    assert {m: c.mode for m, c in cfgs.items()} == {"ptq": "ptq", "beacon": "beacon", "qat": "qat"}
    assert all(c.seed == 2 and c.calib_size == 5000 for c in cfgs.values())  # shared, with the study's default
    assert (cfgs["beacon"].qat_epochs, cfgs["qat"].qat_epochs, cfgs["ptq"].qat_epochs) == (3, 3, 1)
    assert (cfgs["beacon"].beacon_distance, cfgs["qat"].beacon_distance) == (4, None)
    with pytest.raises(SystemExit):
        bc.parse_args(["--mode", "qat"])
    assert "--mode is set per search" in capsys.readouterr().err
