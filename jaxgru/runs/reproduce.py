"""Reproducing a run: rerun it from its ``config.json`` into a scratch folder and compare what it
wrote (``python experiments/run.py --reproduce DIR``).

The comparison is of ``summary.json``, ``front.json`` and ``baseline.json``, value for value,
except the wall-clock fields (:data:`TIMINGS`) and fields the saved run does not have (a newer
jaxgru reports more; what the saved run did report must be the same). Floats are equal when they
agree to :data:`ROUNDING` (relative): derived figures such as a cost ratio may be computed in
another order of float64 operations by a newer jaxgru (``1.9999999999999998`` against ``2.0``),
while a real change moves an accuracy by at least one sequence's share of the validation split
(1/n, far above ``ROUNDING``), and any integer at all. The first difference is named by file and path
(``summary.json: float_val_accuracy: 0.966 (saved) != 0.9653 (rerun)``).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import NamedTuple

from jaxgru.runs.config import Config, RunOptions, saved_settings
from jaxgru.runs.environment import FILE as ENVIRONMENT
from jaxgru.runs.environment import environment_differences
from jaxgru.runs.experiment import train_and_evaluate

COMPARED = ("summary.json", "front.json", "baseline.json")
TIMINGS = frozenset({"search_seconds", "wall_seconds"})
ROUNDING = 1e-12  # relative: a few float64 ulps, far below one sequence's share of an accuracy


def first_difference(saved, rerun, path: str = "") -> str | None:
    """Where two JSON values first differ (``None``: nowhere), ignoring :data:`TIMINGS` and keys
    only the rerun has."""
    if isinstance(saved, dict) and isinstance(rerun, dict):
        for key in sorted(saved, key=str):
            if key in TIMINGS:
                continue
            if key not in rerun:
                return f"{path}{key}: only in the saved run"
            found = first_difference(saved[key], rerun[key], f"{path}{key}.")
            if found:
                return found
        return None
    if isinstance(saved, list) and isinstance(rerun, list):
        if len(saved) != len(rerun):
            return f"{path.rstrip('.')}: {len(saved)} entries (saved) != {len(rerun)} (rerun)"
        for i, (a, b) in enumerate(zip(saved, rerun)):
            found = first_difference(a, b, f"{path}{i}.")
            if found:
                return found
        return None
    if isinstance(saved, float) and isinstance(rerun, float) and abs(saved - rerun) <= ROUNDING * max(
            abs(saved), abs(rerun)):
        return None
    return None if saved == rerun else f"{path.rstrip('.')}: {saved!r} (saved) != {rerun!r} (rerun)"


class Reproduction(NamedTuple):
    """What :func:`reproduce` found: the rerun's folder, the first difference of its outputs from
    the saved ones (``None``: identical), where the two environments differ (``None`` when the
    saved run did not record its own, :mod:`jaxgru.runs.environment`), and which float model the
    rerun started from (``"saved"``, ``"given"``: one already in the scratch folder,
    ``"imported"``: from the PyTorch model the run names, or ``"retrained"``)."""

    scratch: Path
    difference: str | None
    environment: list[str] | None
    float_model: str


def reproduce(run_dir: str | Path, opts: RunOptions | None = None, *, retrain: bool = False) -> Reproduction:
    """Reruns the run in ``run_dir`` from its ``config.json`` into ``opts.out`` (default
    ``runs/reproduce/<run folder name>``) and compares what it writes with what the run saved.
    The rerun starts from the run's own ``float_model`` (checked against its digest when read)
    where the run folder holds one and ``retrain`` is false, so that a search reproduces on
    any machine; otherwise the float model is trained again from the settings."""
    run_dir = Path(run_dir)
    if not (run_dir / "config.json").is_file():
        raise FileNotFoundError(f"{run_dir} holds no config.json; `reproduce` takes a run folder.")
    missing = [n for n in COMPARED if not (run_dir / n).is_file()]
    if missing:
        raise FileNotFoundError(f"{run_dir} lacks {', '.join(missing)}: the run did not finish, nothing to compare.")
    opts = opts or RunOptions()
    scratch = Path(opts.out) if opts.out else Path("runs") / "reproduce" / run_dir.resolve().name
    if any((scratch / n).exists() for n in COMPARED):
        raise FileExistsError(f"{scratch} already holds a run's outputs; give `out` an empty folder.")
    cfg = Config(**saved_settings(run_dir / "config.json"))
    if (scratch / "float_model").exists():
        source = "given"
    elif (run_dir / "float_model").is_dir() and not retrain:
        shutil.copytree(run_dir / "float_model", scratch / "float_model")
        source = "saved"
    else:
        source = "imported" if cfg.torch_model is not None else "retrained"
    train_and_evaluate(cfg, RunOptions(out=str(scratch), data_dir=opts.data_dir, quiet=opts.quiet,
                                       download=opts.download))
    env = None
    if (run_dir / ENVIRONMENT).is_file():
        env = environment_differences(json.loads((run_dir / ENVIRONMENT).read_text()),
                                      json.loads((scratch / ENVIRONMENT).read_text()))
    for name in COMPARED:
        found = first_difference(json.loads((run_dir / name).read_text()), json.loads((scratch / name).read_text()))
        if found:
            return Reproduction(scratch, f"{name}: {found}", env, source)
    return Reproduction(scratch, None, env, source)


FLOAT_MODEL_NOTE = {
    "saved": "float model: the run's own (float_model/, checked against its digest); --retrain-float trains it again",
    "given": "float model: the one already in the rerun's folder",
    "imported": "float model: imported again from the PyTorch model the run names (torch_model)",
    "retrained": "float model: trained again from the settings (the run folder holds none, or --retrain-float)",
}


def environment_note(differences: list[str] | None, shown: int = 6) -> str:
    """One line on where a rerun's environment differs from the saved run's."""
    if differences is None:
        return "environment: the saved run did not record its own (environment.json), so it cannot be compared"
    if not differences:
        return "environment: the same (packages, commit, CPUs, XLA flags, data digests)"
    more = f"; {len(differences) - shown} more in environment.json" if len(differences) > shown else ""
    return f"environment differs: {'; '.join(differences[:shown])}{more}"
