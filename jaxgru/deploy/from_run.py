"""The C export of a genome of a finished run: its float model and calibration, a genome of its
front (or explicit widths), written as ``<name>.h``, ``<name>.c`` and the ``.npz`` they came from.

A QAT or beacon run's front was scored with weights retrained per genome, which the run does not
keep; those runs are refused (export a PTQ run, or retrain with ``--mode ptq``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from jaxgru.cells.genome import MAX_THRESHOLD, check_genomes, check_thresholds
from jaxgru.deploy.c_source import c_sources
from jaxgru.files import atomic_write_bytes
from jaxgru.model.calibrate import Ranges
from jaxgru.model.export import export_arrays, save_npz
from jaxgru.model.floating import ModelParams
from jaxgru.runs.config import Config, saved_settings
from jaxgru.runs.float_model import read_float_model


@dataclass(frozen=True)
class Exported:
    """What :func:`export_run` wrote: the C files, the ``.npz``, and the export's arrays."""

    header: Path
    source: Path
    npz: Path
    arrays: dict


def _parse_list(text: str, what: str) -> np.ndarray:
    try:
        return np.array([int(v) for v in text.replace(" ", "").split(",") if v != ""], np.int32)
    except ValueError:
        raise ValueError(f"{what} must be integers separated by commas, got {text!r}.") from None


def choose_genome(run_dir: Path, cfg: Config, front: int | None, widths: str | None, thresholds: str | None
                  ) -> tuple[np.ndarray, np.ndarray | None]:
    """The genome (and delta thresholds) to export: entry ``front`` of the run's ``front.json``,
    or ``widths`` (one width for every operator, or one per operator; ``thresholds`` likewise)."""
    stack = cfg.resolved_stack()
    if (front is None) == (widths is None):
        raise ValueError("give a genome: --front INDEX (an entry of the run's front.json) or --widths W[,W...].")
    if front is not None:
        path = run_dir / "front.json"
        if not path.is_file():
            raise FileNotFoundError(f"{run_dir} holds no front.json (the run did not finish); give --widths instead.")
        entries = json.loads(path.read_text())
        if not -len(entries) <= front < len(entries):
            raise ValueError(f"--front {front} is outside the front of {run_dir}, which has {len(entries)} genomes "
                             f"(0..{len(entries) - 1}).")
        entry = entries[front]
        genome = np.array(entry["bits"], np.int32)
        t = None if entry.get("thresholds") is None else np.array(entry["thresholds"], np.int32)
        if thresholds is not None:
            t = _parse_list(thresholds, "--thresholds")
    else:
        genome = _parse_list(widths, "--widths")
        if genome.size == 1:
            genome = np.full(stack.n_ops, genome[0], np.int32)
        if genome.size != stack.n_ops:
            raise ValueError(f"--widths gives {genome.size} widths; {stack.name} has {stack.n_ops} operators "
                             f"({', '.join(stack.op_names)}): give one width for all or one per operator.")
        t = None if thresholds is None else _parse_list(thresholds, "--thresholds")
    genome = check_genomes(genome, stack)
    if t is not None:
        if t.size == 1:
            t = np.full(len(stack.delta_sources), t[0], np.int32)
        if t.size != len(stack.delta_sources):
            raise ValueError(f"--thresholds gives {t.size} values; {stack.name} has {len(stack.delta_sources)} delta "
                             f"sources ({', '.join(stack.threshold_names)}), each 0..{MAX_THRESHOLD}.")
        t = check_thresholds(t, stack)
    return genome, t


def _run_config(run_dir: Path) -> Config:
    if not (run_dir / "config.json").is_file():
        raise FileNotFoundError(f"{run_dir} holds no config.json; give a run folder (the --out of a run).")
    return Config(**saved_settings(run_dir / "config.json"))


def _check_float_model(run_dir: Path) -> None:
    if not (run_dir / "float_model").is_dir():
        raise FileNotFoundError(f"{run_dir} holds no float_model (runs keep it locally, it is not committed); rerun "
                                f"it with `python experiments/run.py --reproduce {run_dir}` to get it back.")


def read_run(run_dir: str | Path) -> tuple[Config, ModelParams, Ranges]:
    """A finished run's settings, float weights and calibrated ranges (one line where one is missing)."""
    run_dir = Path(run_dir)
    cfg = _run_config(run_dir)
    _check_float_model(run_dir)
    params, ranges = read_float_model(run_dir / "float_model", cfg.resolved_stack())
    return cfg, params, ranges


def export_run(run_dir: str | Path, out: str | Path | None = None, *, front: int | None = None,
               widths: str | None = None, thresholds: str | None = None, name: str = "jaxgru_model",
               packed: bool = True) -> Exported:
    """Writes the C export of one genome of the run in ``run_dir`` into ``out`` (default
    ``<run_dir>/c_export``); see :func:`choose_genome` for the genome."""
    run_dir = Path(run_dir)
    cfg = _run_config(run_dir)
    _check_float_model(run_dir)
    if cfg.resolved_mode() != "ptq":
        raise ValueError(f"{run_dir} is a {cfg.resolved_mode().upper()} run: its front was scored with weights "
                         "retrained per genome, which the run does not keep; export a PTQ run.")
    genome, t = choose_genome(run_dir, cfg, front, widths, thresholds)
    params, ranges = read_float_model(run_dir / "float_model", cfg.resolved_stack())
    arrays = export_arrays(params, ranges, genome, thresholds=t)
    out = Path(out) if out is not None else run_dir / "c_export"
    out.mkdir(parents=True, exist_ok=True)
    files = c_sources(arrays, name, packed=packed)
    for fname, text in files.items():
        atomic_write_bytes(out / fname, text.encode())
    npz = save_npz(out / f"{name}.npz", arrays)
    return Exported(out / f"{name}.h", out / f"{name}.c", npz, arrays)
