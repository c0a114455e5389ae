"""A whole search run, in steps a user can call one by one (each in its own module):
:func:`~jaxgru.runs.prepare.prepare` (data, float model, calibration),
:class:`~jaxgru.runs.scoring.Scorer` (PTQ, QAT or beacon scoring of a population),
:func:`~jaxgru.runs.searching.search` (the strategy, checkpointed) and
:func:`~jaxgru.runs.reporting.report` (front, baselines, summary, plots).

``experiments/run.py`` parses a :class:`jaxgru.runs.config.Config` and calls :func:`train_and_evaluate`.
Objectives (all minimized): ``1 - validation accuracy``, then the run's costs (default GRU-GA's
size ratio ``M_Q / M_FP16``), each relative to the all-16-bit model, so the hypervolume's
reference point is all ones: zero accuracy, the 16-bit model's costs.
"""

from __future__ import annotations

from jaxgru.runs.config import Config, RunOptions
from jaxgru.runs.prepare import prepare
from jaxgru.runs.reporting import report
from jaxgru.runs.scoring import Scorer
from jaxgru.runs.searching import search


def train_and_evaluate(cfg: Config, opts: RunOptions | None = None) -> dict:
    """The whole pipeline: prepare, score, search, report. Writes the run directory; returns the
    summary (``summary.json``)."""
    prep = prepare(cfg, opts)
    accuracy = Scorer(prep)
    return report(prep, accuracy, search(prep, accuracy, opts))
