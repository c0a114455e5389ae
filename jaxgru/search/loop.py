"""The generational loop around a strategy: evaluate, tell, record, checkpoint, resume.

A strategy is anything with evosax's ``init / ask / tell`` (:class:`Strategy`): jaxgru's
:class:`~jaxgru.search.nsga2.NSGA2`, or an evosax algorithm behind
:class:`jaxgru.search.evosax_strategies.IntegerEvosax`.


Generation 0 scores the initial population; generations 1..G score offspring. After every
generation the strategy state and every record so far are checkpointed with Orbax, so a run
killed at any point resumes from its last finished generation and, because each generation's
key is ``fold_in(key, generation)``, ends exactly where the uninterrupted run would.
"""

from __future__ import annotations

import os
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import jax
import numpy as np
import orbax.checkpoint as ocp
from flax import serialization

from jaxgru.files import DamagedStateError, check_digest, with_digest

# evaluate(genomes int32[P, D], generation) -> (objectives float[P, M] minimized, violation float[P] or None),
# optionally a third item: measures float[P, K] to keep with each genome (not searched on), or None
EvaluateFn = Callable[[np.ndarray, int], tuple]


@runtime_checkable
class Strategy(Protocol):
    """What :func:`run_search` drives (evosax's interface, with constraints):

    - ``init(key, params, seeds) -> state``: ``seeds int[K, D]`` or ``None``;
    - ``ask(key, state, params) -> (genomes int[P, D], state)``;
    - ``tell(key, genomes, objectives float[P, M], state, params, violation float[P]) -> (state, metrics)``
      with ``metrics`` holding ``best_fitness [M]``, ``front_size`` and ``hypervolume``;
    - ``population_size`` and ``num_dims``. ``state`` is a ``flax.struct`` dataclass (it is checkpointed).
    """

    population_size: int
    num_dims: int

    def init(self, key, params, seeds=None): ...

    def ask(self, key, state, params): ...

    def tell(self, key, population, fitness, state, params, violation=None): ...


def check_strategy(strategy: Any) -> None:
    """One clear line when ``strategy`` cannot drive a search."""
    missing = [m for m in ("init", "ask", "tell") if not callable(getattr(strategy, m, None))]
    missing += [a for a in ("population_size", "num_dims") if not hasattr(strategy, a)]
    if missing:
        raise TypeError(f"a search strategy needs init / ask / tell methods and population_size / num_dims "
                        f"(evosax's interface); {type(strategy).__name__} lacks {', '.join(missing)}. Wrap an "
                        "evosax algorithm in jaxgru.search.evosax_strategies.IntegerEvosax.")


class CheckpointError(RuntimeError):
    """A search checkpoint exists but cannot be read back."""


@dataclass
class SearchResult:
    state: Any  # the strategy's state
    genomes: np.ndarray  # int32[E, D]: every genome evaluated, in order
    objectives: np.ndarray  # float[E, M]
    violation: np.ndarray  # float[E]
    generation: np.ndarray  # int32[E]
    history: list[dict] = field(default_factory=list)  # one row per generation
    measures: np.ndarray | None = None  # float[E, K]: what `evaluate` measured besides the objectives
    thresholds: np.ndarray | None = None  # int32[E, n_delta]: set by a run with delta networks


def _history_row(g: int, metrics: dict, n_evals: int, elapsed: float) -> dict:
    best = np.asarray(metrics["best_fitness"], np.float64)
    row = {"generation": g, "hypervolume": float(metrics.get("hypervolume", np.nan))}
    row.update({f"best_obj{m}": float(v) for m, v in enumerate(best)})
    row.update({"front_size": int(metrics["front_size"]), "evaluations": n_evals, "wall_seconds": elapsed})
    return row


def _save(mngr: ocp.CheckpointManager, g: int, result: SearchResult, elapsed: float) -> None:
    tree = {
        "state": jax.tree.map(np.asarray, serialization.to_state_dict(result.state)),
        "genomes": result.genomes,
        "objectives": result.objectives,
        "violation": result.violation,
        "generation": result.generation,
        "history": {k: np.array([row[k] for row in result.history]) for k in result.history[0]},
        "elapsed": np.float64(elapsed),
    }
    if result.measures is not None:
        tree["measures"] = result.measures
    mngr.save(g, args=ocp.args.StandardSave(with_digest(tree)), force=True)
    mngr.wait_until_finished()


def _restore(mngr: ocp.CheckpointManager, template) -> tuple[int, SearchResult, float] | None:
    """The latest checkpointed generation that reads back intact (its digest holds); a damaged
    latest one falls back to the one before it, with a warning, and none intact is an error."""
    steps = sorted(mngr.all_steps(), reverse=True)
    for i, step in enumerate(steps):
        try:
            restored = _restore_step(mngr, step, template)
        except (CheckpointError, DamagedStateError) as err:
            if i + 1 == len(steps):
                raise CheckpointError(str(err)) from err
            warnings.warn(f"{err} Resuming from generation {steps[i + 1]}, the one before it.", stacklevel=3)
            continue
        for damaged in steps[:i]:  # recomputed from here, so their steps are written again
            mngr.delete(damaged)
        return restored
    return None


def _restore_step(mngr: ocp.CheckpointManager, step: int, template) -> tuple[int, SearchResult, float]:
    where = f"the search checkpoint {mngr.directory}/{step}"
    remedy = "delete that folder to restart the search from scratch, or write the run elsewhere"
    try:
        tree = mngr.restore(step, args=ocp.args.StandardRestore())
    except Exception as err:  # orbax raises many types; say plainly what failed
        raise CheckpointError(f"cannot read {where}: {type(err).__name__}: {err}; {remedy}.") from err
    tree = check_digest(tree, where, remedy)
    try:
        state = serialization.from_state_dict(template, jax.tree.map(jax.numpy.asarray, tree["state"]))
        keys = list(tree["history"])
        history = [
            {k: (int(v) if k in ("generation", "front_size", "evaluations") else float(v))
             for k, v in zip(keys, vals)}
            for vals in zip(*(np.atleast_1d(tree["history"][k]) for k in keys))
        ]
        result = SearchResult(
            state=state,
            genomes=np.asarray(tree["genomes"], np.int32),
            objectives=np.asarray(tree["objectives"]),
            violation=np.asarray(tree["violation"]),
            generation=np.asarray(tree["generation"], np.int32),
            history=history,
            measures=None if "measures" not in tree else np.asarray(tree["measures"], np.float64),
        )
    except Exception as err:
        raise CheckpointError(f"cannot load {where}: {type(err).__name__}: {err}; {remedy}.") from err
    return step, result, float(tree["elapsed"])


def run_search(
    strategy: Strategy,
    params: Any,
    evaluate: EvaluateFn,
    *,
    generations: int,
    key: jax.Array,
    checkpoint_dir: str | os.PathLike | None = None,
    resume: bool = False,
    on_generation: Callable[[SearchResult], None] | None = None,
    progress: bool = True,
    seeds: np.ndarray | None = None,
) -> SearchResult:
    """Runs ``generations`` generations after the initial one; returns every record.

    ``evaluate(genomes, generation)`` scores one generation's genomes (``int32[P, D]``); ``key`` is
    the search's PRNG key (``jax.random.key(seed)``), from which every generation's key is folded.
    ``on_generation`` is called after each generation (and once on resume) with the records so
    far, e.g. to write result files. With ``resume``, the latest checkpoint in
    ``checkpoint_dir`` is continued; without it, an existing checkpoint is an error.
    ``seeds: int[K, D]`` are put into the initial population (:meth:`NSGA2.init`).
    """
    check_strategy(strategy)
    if isinstance(generations, bool) or not isinstance(generations, int) or generations < 1:
        raise ValueError(f"generations must be an int >= 1, got {generations!r}.")
    key_init, key = jax.random.split(key)
    if seeds is not None:
        seeds = np.asarray(seeds, np.int32)
        if seeds.ndim != 2 or seeds.shape[1] != strategy.num_dims or len(seeds) > strategy.population_size:
            raise ValueError(f"seeds must be [K, {strategy.num_dims}] with K <= {strategy.population_size}; "
                             f"got {seeds.shape}.")
    initial = strategy.init(key_init, params, seeds)  # also the template a checkpoint is read into
    mngr = None
    start, elapsed, result = 0, 0.0, None
    if checkpoint_dir is not None:
        checkpoint_dir = Path(checkpoint_dir).absolute()
        mngr = ocp.CheckpointManager(checkpoint_dir, options=ocp.CheckpointManagerOptions(max_to_keep=2))
        if mngr.latest_step() is not None and not resume:
            raise FileExistsError(
                f"{checkpoint_dir} already holds a search checkpoint; resume it (`resume=True`) or choose "
                "another folder."
            )
        restored = _restore(mngr, initial) if resume else None
        if restored is not None:
            last, result, elapsed = restored
            start = last + 1
            if on_generation is not None:
                on_generation(result)

    state = result.state if result is not None else initial
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=generations + 1, initial=start, desc="search", unit="gen")
    try:
        for g in range(start, generations + 1):
            t0 = time.perf_counter()
            k_ask, k_tell = jax.random.split(jax.random.fold_in(key, g))
            population, state = strategy.ask(k_ask, state, params)
            genomes = np.asarray(population)
            objectives, violation, *measured = evaluate(genomes, g)
            measures = measured[0] if measured and measured[0] is not None else None
            objectives = np.asarray(objectives, np.float32)
            violation = np.zeros(len(genomes), np.float32) if violation is None else np.asarray(violation, np.float32)
            state, metrics = strategy.tell(k_tell, population, objectives, state, params, violation)
            elapsed += time.perf_counter() - t0
            if result is None:
                result = SearchResult(state, genomes, objectives, violation, np.zeros(len(genomes), np.int32),
                                      measures=None if measures is None else np.asarray(measures, np.float64))
            else:
                if measures is not None:
                    result.measures = np.concatenate([result.measures, np.asarray(measures, np.float64)])
                result.state = state
                result.genomes = np.concatenate([result.genomes, genomes])
                result.objectives = np.concatenate([result.objectives, objectives])
                result.violation = np.concatenate([result.violation, violation])
                result.generation = np.concatenate([result.generation, np.full(len(genomes), g, np.int32)])
            result.history.append(_history_row(g, jax.device_get(metrics), len(result.genomes), elapsed))
            if mngr is not None:
                _save(mngr, g, result, elapsed)
            if on_generation is not None:
                on_generation(result)
            if bar is not None:
                row = result.history[-1]
                shown = {"hv": row["hypervolume"]} if np.isfinite(row["hypervolume"]) else {"best": row["best_obj0"]}
                shown = {k: f"{v:.4f}" for k, v in shown.items()}
                bar.set_postfix(**shown, s_per_gen=f"{time.perf_counter() - t0:.1f}")
                bar.update(1)
    finally:
        if bar is not None:
            bar.close()
        if mngr is not None:
            mngr.close()
    return result
