"""Step 3 of a run: the search over the model's genomes with the strategy its settings name,
written to ``evaluated.csv`` and ``history.csv`` after every generation and checkpointed."""

from __future__ import annotations

import jax
import numpy as np

from jaxgru.cells.genome import MAX_THRESHOLD
from jaxgru.files import write_csv
from jaxgru.model.population import Scores
from jaxgru.runs.config import Config, RunOptions
from jaxgru.runs.prepare import Prepared, constraint_violation, genome_costs, objective_values, sizes
from jaxgru.runs.scoring import Scorer
from jaxgru.search import nsga2
from jaxgru.search.evosax_strategies import evosax_strategy
from jaxgru.search.islands import Islands
from jaxgru.search.loop import SearchResult, run_search

# Every cost of every evaluated genome is logged, whichever the run's objectives.
COST_COLUMNS = ("memory", "bitops", "silago_speedup", "silago_energy", "bitfusion_speedup")


def history_rows(result: SearchResult) -> list[dict]:
    """The search's history rows with ``best_accuracy`` (objective 0 is the error)."""
    return [dict(h, best_accuracy=1.0 - h["best_obj0"]) for h in result.history]


def make_strategy(cfg: Config, num_dims: int, num_objectives: int, upper: int | tuple[int, ...]):
    """The strategy ``cfg.strategy`` names over genes ``0..upper`` (one bound, or one per gene),
    and its parameters: NSGA-II with the run's variation operators (as ``cfg.islands`` islands
    when that is above 1, :mod:`jaxgru.search.islands`), or an evosax algorithm
    minimizing the last objective (a cost) under the run's constraint (``max_error``)."""
    if cfg.strategy == "nsga2":
        strategy = nsga2.NSGA2(cfg.population // cfg.islands, num_dims, num_objectives, 0, upper,
                               crossover=nsga2.CROSSOVERS[cfg.crossover], mutation=nsga2.MUTATIONS[cfg.mutation],
                               offspring=cfg.offspring, duplicates=cfg.duplicates,
                               selection=cfg.selection, pairing=cfg.pairing, ties=cfg.ties)
        if cfg.islands > 1:
            strategy = Islands(strategy, cfg.islands, cfg.migration_interval, cfg.migrants)
        params = strategy.default_params.replace(crossover_rate=np.float32(cfg.crossover_rate),
                                                 crossover_eta=np.float32(cfg.crossover_eta),
                                                 mutation_eta=np.float32(cfg.mutation_eta))
        if cfg.mutation_rate is not None:
            params = params.replace(mutation_rate=np.float32(cfg.mutation_rate))
        return strategy, params
    return evosax_strategy(cfg.strategy, cfg.population, num_dims, num_objectives, 0, upper,
                           objective=num_objectives - 1)


def search(prep: Prepared, accuracy: Scorer, opts: RunOptions | None = None) -> SearchResult:
    """The run's strategy (NSGA-II by default) over the model's genomes (genes are indices into
    the width set; with ``tie_layers``, one layer's genes, shared by every layer), minimizing
    the run's objectives; writes ``evaluated.csv`` (every cost of every genome) and ``history.csv``
    after every generation and checkpoints, so that ``opts.resume`` continues it.
    Its history's ``wall_seconds`` is the search's own time (asking, scoring and telling, summed
    over every generation, an interrupted run's earlier part too). The result's genomes are widths,
    its ``thresholds`` the delta thresholds (or ``None``), and with deltas its ``measures`` each
    genome's :func:`delta_measures`."""
    cfg, stack, out, widths = prep.cfg, prep.params.stack, prep.out, prep.widths
    opts = opts or RunOptions()
    delta = cfg.resolved_delta()[0] != "off"

    def evaluate(genes, generation: int):
        genomes, thresholds = prep.decode(genes)
        scores = accuracy.search_scores(genomes, generation, thresholds)
        costs = genome_costs(prep, genomes, scores if delta else None)
        violation = constraint_violation(cfg, scores.accuracy, costs)
        if generation == 0 and violation is not None and not (violation <= 0).any():
            prep.log("no genome of the initial population meets the constraints (max_error / max_memory); "
                     "the search goes on, preferring the least violation (constrained dominance)")
        return objective_values(prep, scores.accuracy, costs), violation, delta_measures(scores) if delta else None

    cost_log = {c: np.zeros(0) for c in COST_COLUMNS}  # costs of the rows written so far
    t_names = list(stack.threshold_names) if delta else []

    def write_progress(result: SearchResult):
        genomes, thresholds = prep.decode(result.genomes)
        acc = 1.0 - result.objectives[:, 0]
        bits, ratio = sizes(prep, genomes)
        # Only the new rows: a growing shape would recompile the jitted costs every generation.
        if len(genomes) > len(cost_log["memory"]):
            done = len(cost_log["memory"])
            new = genome_costs(prep, genomes[done:], scores_of(result.measures[done:]) if delta else None)
            for c in COST_COLUMNS:
                cost_log[c] = np.concatenate([cost_log[c], new[c]])
        costs = cost_log
        eliminated = result.measures[:, 0] if delta else None
        header = ["generation"] + [f"b{k}_{op.name}" for k, op in enumerate(stack.ops)] + t_names + [
            "accuracy", "size_bits", "size_ratio", *COST_COLUMNS] + (["eliminated_ops"] if delta else []) + [
            "feasible"]
        write_csv(out / "evaluated.csv", header, (
            [int(g), *map(int, genome), *(map(int, thresholds[i]) if delta else ()), f"{a:.6f}", int(b), f"{r:.6f}",
             *(f"{costs[c][i]:.6g}" for c in COST_COLUMNS), *([f"{eliminated[i]:.6f}"] if delta else ()), int(v <= 0)]
            for i, (g, genome, a, b, r, v) in enumerate(zip(result.generation, genomes, acc, bits, ratio,
                                                            result.violation))))
        hist = history_rows(result)
        best = [f"best_obj{m}" for m in range(1, len(prep.objectives))]
        cols = ["generation", "hypervolume", "best_accuracy", *best, "front_size", "evaluations", "wall_seconds"]
        write_csv(out / "history.csv", cols, ([h[c] for c in cols] for h in hist))

    n_widths, n_t = cfg.genome_length(), cfg.threshold_genes()
    upper = (len(widths) - 1,) * n_widths + (MAX_THRESHOLD,) * n_t if n_t else len(widths) - 1
    strategy, sp = make_strategy(cfg, n_widths + n_t, len(prep.objectives), upper)
    # as gene indices; thresholds 0 (dense)
    homogeneous = np.repeat(np.arange(len(widths), dtype=np.int32)[:, None], n_widths + n_t, axis=1)
    homogeneous[:, n_widths:] = 0
    result = run_search(
        strategy, sp, evaluate, generations=cfg.generations, key=jax.random.key(cfg.seed),
        checkpoint_dir=out / "checkpoints", resume=opts.resume, on_generation=write_progress,
        progress=not opts.quiet, seeds=homogeneous if cfg.seed_homogeneous else None,
    )
    result.genomes, result.thresholds = prep.decode(result.genomes)
    return result


def delta_measures(scores: Scores) -> np.ndarray:
    """What a delta search keeps of each genome's scores, ``[P, 1 + n_ops]``: the share of
    operations eliminated, then each operator's (:class:`~jaxgru.model.population.Scores`)."""
    return np.concatenate([scores.eliminated[:, None], scores.eliminated_ops], axis=1)


def scores_of(measures: np.ndarray) -> Scores:
    """The eliminated shares of :func:`delta_measures` as :class:`~jaxgru.model.population.Scores`
    (without accuracy)."""
    return Scores(None, measures[:, 0], measures[:, 1:])


