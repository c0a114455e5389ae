"""A run's settings, declared once: :class:`Config` (what defines a run: it is saved as
``config.json`` and ``resume`` checks it) and :class:`RunOptions` (where and how a run is
carried out: output folder, resume, quiet, data directory, downloads).

Both command lines (``experiments/run.py``: one value per setting; ``experiments/sweep.py``:
any number, every combination is a run) are derived from these declarations by
:func:`add_arguments` and :func:`from_args`; each field's ``metadata`` holds its help text and,
where argparse needs them, its choices or flag name.
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
import re
import typing
from dataclasses import dataclass, field
from pathlib import Path

from jaxgru.cells import CELLS, Stack, get_cell
from jaxgru.cells.genome import MAX_THRESHOLD, PLATFORM_WIDTHS, THRESHOLD_STEPS, Widths
from jaxgru.data.tasks import SPEECH_SOURCES, TASKS, Task, get_task
from jaxgru.model.costs import COSTS, check_objectives
from jaxgru.search.evosax_strategies import ALGORITHMS
from jaxgru.search.nsga2 import (
    CROSSOVER_RATE,
    CROSSOVERS,
    DUPLICATES,
    MUTATIONS,
    PAIRINGS,
    PM_ETA,
    SBX_ETA,
    SELECTIONS,
    TIES,
)

MODES = ("ptq", "qat", "beacon")
STRATEGIES = ("nsga2", *ALGORITHMS)
# MOHAQ's platforms: their objectives (their width sets are genome.PLATFORM_WIDTHS).
PLATFORMS = {"silago": ("error", "silago_speedup", "silago_energy"), "bitfusion": ("error", "bitfusion_speedup")}


# Textbook NSGA-II on integer genes (Deb's tournament on rank and crowding, uniform crossover at
# 0.9, random-reset mutation): jaxgru's search defaults before 0.4, so also what a config.json
# written before a search setting existed meant.
TEXTBOOK_SEARCH = dict(crossover="uniform", mutation="reset", crossover_rate=CROSSOVER_RATE, crossover_eta=SBX_ETA,
                       mutation_eta=PM_ETA, selection="rank", pairing="random", ties="first")


def setting(default, help: str, *, choices=None, flag: str | None = None, negate: bool = False, parse=None,
            absent=dataclasses.MISSING):
    """A declared setting. ``flag``: its command-line name (default ``--field-name``);
    ``negate``: a boolean whose flag turns it off (``qat_exact`` <- ``--qat-float-surrogate``);
    ``parse``: reads its command-line text (default: the field's type); ``absent``: what a saved
    ``config.json`` written before the setting existed meant, where that is not ``default``
    (:func:`saved_settings`)."""
    absent = default if absent is dataclasses.MISSING else absent
    return field(default=default, metadata={"help": help, "choices": choices, "flag": flag, "negate": negate,
                                            "parse": parse, "absent": absent})


def parse_hidden(text: str) -> int | str:
    """``--hidden``: one width (``128``, an int) or one per layer (``128,64``, kept as that text)."""
    try:
        widths = [int(t) for t in str(text).split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"hidden widths are integers, one or one per layer (128 or 128,64); "
                                         f"got {text!r}") from None
    return widths[0] if len(widths) == 1 else ",".join(map(str, widths))


def parse_delta(text: str) -> str:
    """``--delta``: ``off``, ``search`` or ``fixed:T`` (T in 0..MAX_THRESHOLD), as canonical text."""
    text = str(text).strip().lower()
    if text in ("off", "search"):
        return text
    kind, _, value = text.partition(":")
    if kind == "fixed" and value.strip().isdigit() and 0 <= int(value) <= MAX_THRESHOLD:
        return f"fixed:{int(value)}"
    raise argparse.ArgumentTypeError(f"delta must be off, search or fixed:T with T in 0..{MAX_THRESHOLD} (units of "
                                     f"1/{THRESHOLD_STEPS} of a source's code range); got {text!r}")


@dataclass(frozen=True)
class Config:
    """Everything a run's results depend on."""

    # task and cell are checked by `check`, whose message lists the known ones
    task: str = setting("mnist_row", f"the data set: {', '.join(sorted(TASKS))}, or npz:PATH, your own arrays in a "
                        ".npz file (x_train, y_train, optionally x_val, y_val, x_test, y_test, lengths_<split>)")
    cell: str = setting("gru", f"the recurrent cell: {', '.join(sorted(CELLS))}; a stack of different cells "
                        "joins them with + (gru+sru)")
    layers: int = setting(1, "recurrent layers, each reading the output of the one below")
    hidden: int | str = setting(128, "hidden units: one width for every layer, or one per layer (128,64)",
                                parse=parse_hidden)
    torch_model: str | None = setting(None, "start from this trained PyTorch model (a state_dict, whole-model or "
                                      "TorchScript file: nn.GRU or nn.LSTM and a final nn.Linear) instead of "
                                      "training one; `cell`, `layers` and `hidden` must describe it")
    tie_layers: bool = setting(False, "one width per operator shared by every layer: the search evolves one "
                               "layer's genome (fewer genes for small budgets)")
    population: int = setting(40, "NSGA-II population (even, >= 4)")
    generations: int = setting(20, "generations after the initial one")
    seed: int = setting(0, "seed of the float model, the QAT subset and the search")
    # float training
    epochs: int = setting(5, "float training epochs")
    batch_size: int = setting(128, "float training batch")
    learning_rate: float = setting(2e-3, "float training peak learning rate (Adam, cosine decay)")
    train_size: int | None = setting(None, "train on the first N sequences (default: all)")
    # post-training quantization
    calib_size: int | None = setting(None, "calibration sequences, from train (default: the whole train split)")
    val_size: int | None = setting(None, "score on the first N validation sequences (default: all)")
    test_size: int | None = setting(None, "report test accuracy on the first N test sequences (default: all)")
    source: str = setting("auto", "speech data: tfds (Speech Commands), synthetic (espeak-ng), auto (tfds when "
                          "prepared)", choices=list(SPEECH_SOURCES))
    # quantization-aware training of every specimen before it is scored
    mode: str | None = setting(None, "ptq; qat: fine-tune every specimen before scoring; beacon: fine-tune a few "
                               "(beacons) and score the rest with their nearest beacon's weights (default: the "
                               "paper's choice per task, qat on MNIST, ptq on speech)", choices=list(MODES),
                               absent="ptq")  # every run was PTQ before QAT existed
    qat_fraction: float = setting(0.1, "QAT subset of the train split (drawn once from the seed)")
    qat_epochs: int = setting(1, "QAT epochs")
    qat_learning_rate: float = setting(1e-5, "Adam's step size in QAT")
    qat_batch_size: int = setting(128, "QAT batch")
    qat_exact: bool = setting(True, "QAT forward in float rounding instead of the integer model itself (faster, "
                              "~1-4%% of codes differ)", flag="--qat-float-surrogate", negate=True,
                              absent=False)  # the first QAT ran the float surrogate
    # search
    strategy: str = setting("nsga2", "nsga2: the Pareto front of the objectives; an evosax algorithm "
                            f"({', '.join(ALGORITHMS)}): the single cost objective minimized under `max_error`",
                            choices=list(STRATEGIES))
    # The search defaults are MOHAQ's operators (integer SBX and polynomial mutation, eta 3, every pair
    # recombined) with pymoo's dominance tournament: the steadiest search measured (docs/scale.md).
    # Runs older than a setting used the textbook values (`absent`; the `textbook` preset).
    crossover: str = setting("sbx", "NSGA-II crossover", choices=sorted(CROSSOVERS))
    mutation: str = setting("polynomial", "NSGA-II mutation", choices=sorted(MUTATIONS))
    mutation_rate: float | None = setting(None, "mutation probability per gene (default 1 / genome length)")
    crossover_rate: float = setting(1.0, "NSGA-II: probability that a pair of parents is recombined",
                                    absent=TEXTBOOK_SEARCH["crossover_rate"])
    crossover_eta: float = setting(3.0, "distribution index of sbx crossover (small: children far from their "
                                   f"parents; pymoo's default {SBX_ETA:g})", absent=TEXTBOOK_SEARCH["crossover_eta"])
    mutation_eta: float = setting(3.0, f"distribution index of polynomial mutation (pymoo's default {PM_ETA:g})",
                                  absent=TEXTBOOK_SEARCH["mutation_eta"])
    duplicates: str = setting("mutate", "NSGA-II: an offspring that repeats a genome is mutated again (mutate) or "
                              "made again from new parents (remate, as pymoo)", choices=list(DUPLICATES))
    selection: str = setting("dominance", "NSGA-II: the binary tournament compares two parents by rank, then "
                             "crowding (rank, Deb's) or by dominance, then crowding (dominance, as pymoo)",
                             choices=list(SELECTIONS), absent=TEXTBOOK_SEARCH["selection"])
    pairing: str = setting("random", "NSGA-II: who meets whom in the tournaments: pairs drawn at random (random) "
                           "or the population shuffled and paired in order, so every parent competes equally "
                           "often (permutation, as Deb's code and pymoo)", choices=list(PAIRINGS))
    ties: str = setting("first", "NSGA-II: which specimens of equal crowding in the last front survive: the first "
                        "(offspring first) or a random choice (random, as pymoo)", choices=list(TIES))
    seed_homogeneous: bool = setting(False, "put the homogeneous genomes of the width set into the initial population")
    offspring: int | None = setting(None, "NSGA-II offspring per generation (even, at most the population; default "
                                          "the population): fewer makes more, smaller generations")
    islands: int = setting(1, "NSGA-II as this many islands (each population / islands specimens) with ring "
                                "migration; 1: one population")
    migration_interval: int = setting(5, "with islands: generations between migrations")
    migrants: int = setting(2, "with islands: the best specimens each island sends to the next at a migration")
    # hardware-aware search (MOHAQ)
    objectives: str | None = setting(None, f"comma-separated, error first, then any of {', '.join(COSTS)} "
                                     "(default: the platform's, else error,size)")
    widths: str | None = setting(None, "the widths genes draw from: a range (2-8), a list (4,8,16) or a platform "
                                 "name (default: the platform's, else 2-8)")
    platform: str | None = setting(None, "silago (widths 4,8,16; error, speed-up, energy) or bitfusion (widths "
                                   "2,4,8,16; error, speed-up): sets the width set and the objectives together",
                                   choices=sorted(PLATFORMS))
    max_error: float | None = setting(None, "constraint: validation error at most this (e.g. 0.05); violators are "
                                      "infeasible (constrained dominance)")
    max_memory: float | None = setting(None, "constraint: parameter memory at most this many kB (1000 bytes)")
    # beacon-based search (`mode` beacon)
    beacon_distance: int | None = setting(None, "a candidate farther than this from every beacon (L1 distance over "
                                          "gene indices) may become a beacon (default: the number of genes)")
    beacons_per_generation: int = setting(2, "at most this many new beacons (QAT runs) per generation")
    # delta networks (Shrink and Eliminate)
    delta: str = setting("off", "delta networks: off; search (one threshold gene per matmul source of every layer, "
                         f"0..{MAX_THRESHOLD} in 1/{THRESHOLD_STEPS} of the source's code range, searched with the "
                         "widths); fixed:T (every threshold T)", parse=parse_delta)

    def check(self) -> Task:
        """Validates the settings; returns the task. Raises ``ValueError`` with what to change."""
        task = get_task(self.task)
        stack = self.resolved_stack()
        self.resolved_hidden()
        if self.tie_layers and not stack.tieable:
            raise ValueError(f"`tie_layers` needs the same cell in every layer; {stack.name} mixes cells.")
        for f in dataclasses.fields(self):
            value, kind = getattr(self, f.name), _base_type(f)
            if (value is None and _optional(f)) or f.metadata.get("parse"):
                continue
            if kind is int and (isinstance(value, bool) or not isinstance(value, int)):
                raise ValueError(f"`{f.name}` must be an integer, got {value!r}.")
            if f.metadata.get("choices") and value not in f.metadata["choices"]:
                raise ValueError(f"`{f.name}` must be one of {', '.join(map(str, f.metadata['choices']))}, got "
                                 f"{value!r}.")
        for name in ("calib_size", "val_size", "test_size", "train_size"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ValueError(f"`{name}` must be a positive integer, got {value!r}.")
        if self.population < 4 or self.population % 2:
            raise ValueError(f"`population` must be an even number >= 4, got {self.population}.")
        if self.generations < 1:
            raise ValueError(f"`generations` must be >= 1, got {self.generations}.")
        if self.epochs < 0 or self.batch_size < 1:
            raise ValueError("`batch_size` must be >= 1 and `epochs` >= 0.")
        if not 0.0 < self.qat_fraction <= 1.0 or self.qat_learning_rate <= 0:
            raise ValueError(f"`qat_fraction` must lie in (0, 1] and `qat_learning_rate` be > 0; got "
                             f"{self.qat_fraction}, {self.qat_learning_rate}.")
        if self.qat_epochs < 1 or self.qat_batch_size < 1:
            raise ValueError("`qat_epochs` and `qat_batch_size` must be >= 1.")
        if self.strategy != "nsga2" and (len(self.resolved_objectives()) != 2 or self.max_error is None):
            raise ValueError(f"`strategy` {self.strategy} answers a single-objective question: give exactly one "
                             "cost objective (e.g. `objectives` error,size) and the error bound `max_error`.")
        if self.offspring is not None and not (2 <= self.offspring <= self.population and self.offspring % 2 == 0):
            raise ValueError(f"`offspring` must be an even number in 2..{self.population} (the population); got "
                             f"{self.offspring}.")
        if self.offspring is not None and self.islands > 1:
            raise ValueError("`offspring` and `islands` do not combine: each island makes as many offspring as it "
                             "holds.")
        if self.islands < 1 or self.migration_interval < 1:
            raise ValueError(f"`islands` and `migration_interval` must be >= 1; got {self.islands}, "
                             f"{self.migration_interval}.")
        if self.islands > 1:
            size, rest = divmod(self.population, self.islands)
            if self.strategy != "nsga2":
                raise ValueError(f"`islands` are sub-populations of NSGA-II; use `strategy` nsga2 (got "
                                 f"{self.strategy}).")
            if rest or size < 4 or size % 2:
                raise ValueError(f"`population` ({self.population}) must split into {self.islands} islands of an even "
                                 f"number >= 4 each; use a population of {self.islands} x an even number >= 4.")
            if not 1 <= self.migrants < size:
                raise ValueError(f"`migrants` must be 1..{size - 1} (fewer than an island of {size} holds); got "
                                 f"{self.migrants}.")
        if not 0.0 <= self.crossover_rate <= 1.0:
            raise ValueError(f"`crossover_rate` is a probability in [0, 1], got {self.crossover_rate}.")
        if self.crossover_eta < 0 or self.mutation_eta < 0:
            raise ValueError(f"`crossover_eta` and `mutation_eta` are distribution indices >= 0; got "
                             f"{self.crossover_eta}, {self.mutation_eta}.")
        widths = self.resolved_widths()
        if self.seed_homogeneous and len(widths) > self.population // self.islands:
            raise ValueError(f"`seed_homogeneous` puts {len(widths)} homogeneous genomes (one per width) into a "
                             f"population of {self.population // self.islands}; give a `population` of at least "
                             f"{len(widths) * self.islands} or fewer `widths`.")
        self.resolved_objectives()
        if self.max_error is not None and not 0.0 < self.max_error <= 1.0:
            raise ValueError(f"`max_error` must lie in (0, 1], got {self.max_error}.")
        if self.max_memory is not None and self.max_memory <= 0:
            raise ValueError(f"`max_memory` must be a positive number of kB, got {self.max_memory}.")
        if self.beacon_distance is not None and self.beacon_distance < 0:
            raise ValueError(f"`beacon_distance` must be >= 0, got {self.beacon_distance}.")
        if self.beacons_per_generation < 1:
            raise ValueError(f"`beacons_per_generation` must be >= 1, got {self.beacons_per_generation}.")
        kind, _ = self.resolved_delta()
        if kind == "off" and "eliminated_ops" in self.resolved_objectives():
            raise ValueError("the objective eliminated_ops needs delta networks: set `delta` search or fixed:T.")
        if kind != "off" and "mcu_instructions" in self.resolved_objectives():
            raise ValueError("the objective mcu_instructions models the dense C export; with delta networks search "
                             "eliminated_ops instead, or set `delta` off.")
        if kind == "search" and self.strategy != "nsga2":
            raise ValueError(f"`delta` search evolves threshold genes with their own bounds, which only NSGA-II "
                             f"takes; use `strategy` nsga2 or `delta` fixed:T (got {self.strategy}).")
        return task

    def resolved_delta(self) -> tuple[str, int | None]:
        """``("off", None)``, ``("search", None)`` or ``("fixed", T)``."""
        try:
            text = parse_delta(self.delta)
        except argparse.ArgumentTypeError as err:
            raise ValueError(f"`delta`: {err}.") from None
        kind, _, value = text.partition(":")
        return kind, (int(value) if value else None)

    def threshold_genes(self) -> int:
        """Threshold genes the search evolves after the widths: one per delta source of every
        layer (one layer's when tied), none unless `delta` is search."""
        if self.resolved_delta()[0] != "search":
            return 0
        stack = self.resolved_stack()
        return len(stack.cells[0].sources) if self.tie_layers else len(stack.delta_sources)

    def resolved_widths(self) -> Widths:
        """The width set: ``widths``, else the platform's, else 2..8."""
        if self.widths is not None:
            try:
                return Widths.parse(self.widths)
            except ValueError as err:
                raise ValueError(f"`widths` {self.widths}: {err}") from None
        return PLATFORM_WIDTHS[self.platform or "default"]

    def resolved_objectives(self) -> tuple[str, ...]:
        """The objectives: ``objectives``, else the platform's, else (error, size)."""
        if self.objectives is not None:
            return check_objectives(self.objectives)
        return PLATFORMS[self.platform] if self.platform else ("error", "size")

    def resolved_stack(self) -> Stack:
        """The recurrent layers: ``cell`` repeated ``layers`` times, or the cells ``cell`` joins
        with ``+`` (then ``layers`` is their number, or left at 1)."""
        if self.layers < 1:
            raise ValueError(f"`layers` must be >= 1, got {self.layers}.")
        names = self.cell.split("+")
        for name in names:
            get_cell(name)
        if len(names) > 1 and self.layers not in (1, len(names)):
            raise ValueError(f"`cell` {self.cell} names {len(names)} layers but `layers` is {self.layers}.")
        return Stack.of(self.cell, None if len(names) > 1 else self.layers)

    def resolved_hidden(self) -> tuple[int, ...]:
        """Each layer's hidden width."""
        stack = self.resolved_stack()
        value = parse_hidden(self.hidden) if isinstance(self.hidden, str) else self.hidden
        widths = [value] if isinstance(value, int) else [int(t) for t in value.split(",")]
        if len(widths) not in (1, stack.layers):
            raise ValueError(f"`hidden` {self.hidden} lists {len(widths)} widths for {stack.layers} layers; give one "
                             f"width for every layer or one per layer.")
        if min(widths) < 1:
            raise ValueError(f"`hidden` widths must be >= 1, got {self.hidden}.")
        return stack.hidden(widths[0] if len(widths) == 1 else widths)

    def model_name(self) -> str:
        """``GRU(128)``; a stack ``GRU+GRU(128,64)``."""
        return f"{self.resolved_stack().name.upper()}({','.join(map(str, self.resolved_hidden()))})"

    def resolved_beacon_distance(self) -> int:
        return self.genome_length() if self.beacon_distance is None else self.beacon_distance

    def genome_length(self) -> int:
        """Genes the search evolves: every operator of every layer, or one layer's when tied."""
        stack = self.resolved_stack()
        return stack.cells[0].n_ops if self.tie_layers else stack.n_ops

    def resolved_mode(self) -> str:
        return self.mode or get_task(self.task).default_mode

    def default_out(self) -> Path:
        """``results/<task>`` for one GRU layer, ``results/<task>_<cell>`` for another cell,
        ``results/<task>_<L>x<cell>`` for a stack of one cell (``_tied`` when tied),
        ``results/<task>_<cell>_<cell>`` for a stack of different cells."""
        stack, task = self.resolved_stack(), get_task(self.task).name
        if stack.layers == 1:
            name = task if stack.name == "gru" else f"{task}_{stack.name}"
        elif stack.tieable:
            name = f"{task}_{stack.layers}x{stack.cells[0].name}" + ("_tied" if self.tie_layers else "")
        else:
            name = f"{task}_{stack.name.replace('+', '_')}"
        return Path("results") / name


@dataclass(frozen=True)
class RunOptions:
    """How a run is carried out; none of it changes its results."""

    out: str | None = setting(None, "run directory (default results/<task>, or results/<task>_<cell>)")
    resume: bool = setting(False, "continue the checkpointed run in `out`")
    quiet: bool = setting(False, "no progress output")
    data_dir: str | None = setting(None, "folder with the data files (else $JAXGRU_DATA_DIR)")
    download: bool = setting(False, "let tensorflow-datasets download missing data")
    distributed: bool = setting(False, "one search over several processes or hosts (jax.distributed): start the "
                                       "same command on each; JAX detects Cloud TPU, SLURM and Open MPI, else give "
                                       "--coordinator, --num-processes and --process-id")
    coordinator: str | None = setting(None, "host:port of process 0 in a distributed run (else "
                                            "$JAX_COORDINATOR_ADDRESS or detected)")
    num_processes: int | None = setting(None, "processes in a distributed run (else $JAX_NUM_PROCESSES or detected)")
    process_id: int | None = setting(None, "this process's index in a distributed run, 0 for the one that writes "
                                           "the run folder (else $JAX_PROCESS_ID or detected)")
    cpu_devices: int | None = setting(None, "CPU devices per process, to try sharding or a distributed run on one "
                                            "machine")

    def joins_others(self) -> bool:
        """Whether the run is one of several processes (``--distributed`` or any of its addresses)."""
        return self.distributed or any(v is not None for v in (self.coordinator, self.num_processes, self.process_id))

    def out_dir(self, cfg: Config) -> Path:
        return Path(self.out) if self.out else cfg.default_out()


# Named sets of settings (``--preset``); flags given on the command line override them.
PRESETS: dict[str, dict] = {
    # The first run a newcomer makes: about a minute on 2 CPU cores, a float GRU that is actually
    # trained (about 96-97% on mnist_row), and a PTQ search long enough for the mixed front to beat
    # the homogeneous points.
    "quick": dict(task="mnist_row", cell="gru", hidden=64, epochs=4, learning_rate=5e-3, train_size=20000,
                  calib_size=2000, val_size=1000, mode="ptq", population=40, generations=15,
                  seed_homogeneous=True, out="runs/quick"),
    # GRU-GA's own settings (the defaults): GRU(128), P=40, G=20, the task's mode.
    "paper": {},
    # The textbook NSGA-II, which made the runs in results/ that predate jaxgru 0.4.
    "textbook": TEXTBOOK_SEARCH,
}


def apply_preset(parser: argparse.ArgumentParser, argv: list[str] | None, *, many: bool = False) -> None:
    """Reads ``--preset`` from ``argv`` and makes its settings the parser's defaults (``many``: a
    sweep's parser, whose options hold lists; the preset's output folder is not a setting there)."""
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--preset", choices=sorted(PRESETS))
    known, _ = pre.parse_known_args(argv)
    if known.preset is not None:
        preset = PRESETS[known.preset]
        parser.set_defaults(**({k: [v] for k, v in preset.items() if k != "out"} if many else preset))


# Field name -> type hint, of both classes (their field names are distinct).
_HINTS = {**typing.get_type_hints(Config), **typing.get_type_hints(RunOptions)}


def _optional(f: dataclasses.Field) -> bool:
    return type(None) in typing.get_args(_HINTS[f.name])


def _base_type(f: dataclasses.Field) -> type:
    hint = _HINTS[f.name]
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    return args[0] if args else hint


def _flag(f: dataclasses.Field) -> str:
    return f.metadata.get("flag") or "--" + f.name.replace("_", "-")


def add_arguments(parser, cls: type, *, many: bool = False, only: tuple[str, ...] | None = None) -> None:
    """One option per field of ``cls`` (:class:`Config` or :class:`RunOptions`), as the flag's
    value (a boolean: the flag present). ``many`` (a sweep): each option takes one or more
    values, a list; a boolean flag alone means present, ``--flag no yes`` runs both. ``only``:
    just these fields (a study that fixes the others)."""
    for f in dataclasses.fields(cls):
        if only is not None and f.name not in only:
            continue
        kind, meta = _base_type(f), f.metadata
        if kind is bool:
            if many:
                parser.add_argument(_flag(f), dest=f.name, type=_yes_no, nargs="*", default=[False],
                                    help=meta["help"] + " (yes, no or both)")
            else:
                parser.add_argument(_flag(f), dest=f.name, action="store_true", help=meta["help"])
            continue
        kw = {"dest": f.name, "type": meta.get("parse") or kind, "help": meta["help"], "choices": meta["choices"]}
        if many:
            parser.add_argument(_flag(f), nargs="+", default=[f.default], **kw)
        else:
            parser.add_argument(_flag(f), default=f.default, **kw)


def _yes_no(text: str) -> bool:
    if text.lower() in ("yes", "true", "1"):
        return True
    if text.lower() in ("no", "false", "0"):
        return False
    raise argparse.ArgumentTypeError(f"expected yes or no, got {text!r}")


def _value(f: dataclasses.Field, flag_value):
    return (not flag_value) if f.metadata.get("negate") else flag_value


def from_args(ns: argparse.Namespace, cls: type):
    """The ``cls`` instance that the options ``ns`` parsed by :func:`add_arguments` describe."""
    fields = [f for f in dataclasses.fields(cls) if f.name in vars(ns)]
    return cls(**{f.name: _value(f, getattr(ns, f.name)) for f in fields})


def grid_from_args(ns: argparse.Namespace, cls: type = Config) -> list[tuple[dict, object]]:
    """Every combination of the option lists parsed with ``many=True``: ``(the fields given
    several values -> this run's value, the cls instance)`` per run, in a stable order."""
    fields = [f for f in dataclasses.fields(cls) if f.name in vars(ns)]
    choices = [[_value(f, True)] if v == [] else [_value(f, x) for x in dict.fromkeys(v)]
               for f, v in ((f, getattr(ns, f.name)) for f in fields)]
    varied = [f.name for f, c in zip(fields, choices) if len(c) > 1]
    runs = []
    for combo in itertools.product(*choices):
        values = dict(zip((f.name for f in fields), combo))
        runs.append(({k: values[k] for k in varied}, cls(**values)))
    return runs


def command_line_message(message: str) -> str:
    """A library error message as the command line says it: each setting named in backticks
    (```data_dir```, ```source`=tfds``) becomes its flag (``--data-dir``, ``--source tfds``)."""
    flags = {f.name: _flag(f) for cls in (Config, RunOptions) for f in dataclasses.fields(cls)}
    flags["resume=True"] = "--resume"

    def flag(m: re.Match) -> str:
        name, value = m.group(1), m.group(2)
        if name not in flags:
            return m.group(0)
        return flags[name] + (f" {value}" if value else "")

    return re.sub(r"`([a-z_]+(?:=True)?)`(?:=(\w+))?", flag, message)


def saved_settings(path: Path) -> dict:
    """The :class:`Config` fields of a saved ``config.json``. A field it lacks (a run older than
    the setting) takes what runs did before the setting existed (its ``absent`` value: PTQ for
    ``mode``, the float surrogate for ``qat_exact``; the default for every other setting, whose
    default is that behaviour); keys that are not fields (older run-only options) are dropped."""
    saved = json.loads(path.read_text())
    if saved.get("accuracy_floor") is not None:  # before `max_error`, the same constraint
        saved.setdefault("max_error", round(1.0 - saved["accuracy_floor"], 12))
    absent = {f.name: f.metadata["absent"] for f in dataclasses.fields(Config)}
    return {**absent, **{k: v for k, v in saved.items() if k in absent}}
