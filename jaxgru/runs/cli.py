"""The command line of a search run, end to end: ``python experiments/run.py --task mnist_row``.

Trains (or loads) the float model, calibrates it, searches per-operator bit widths with
NSGA-II and writes the run directory (``--out``, default ``results/<task>``, or
``results/<task>_<cell>`` for a cell other than the GRU). Every option is declared once, in
``jaxgru.runs.config``.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys

import jax

from jaxgru import distributed
from jaxgru.runs.config import PRESETS, Config, RunOptions, add_arguments, apply_preset, command_line_message, from_args
from jaxgru.runs.experiment import train_and_evaluate
from jaxgru.runs.reproduce import FLOAT_MODEL_NOTE, environment_note, reproduce


def parse_args(argv: list[str] | None = None) -> tuple[Config, RunOptions]:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--preset", choices=sorted(PRESETS),
                   help="a named set of settings (quick: the first run, about a minute); flags override it")
    p.add_argument("--reproduce", metavar="DIR", default=None,
                   help="rerun the run in DIR from its config.json (into --out, default runs/reproduce/<name>) and "
                        "say whether its summary, front and baseline are identical, else the first difference")
    p.add_argument("--retrain-float", action="store_true",
                   help="with --reproduce: train the float model again even where DIR holds its own float_model")
    add_arguments(p.add_argument_group("what defines the run (saved in config.json)"), Config)
    add_arguments(p.add_argument_group("how it is carried out"), RunOptions)
    apply_preset(p, argv)
    ns = p.parse_args(argv)
    return from_args(ns, Config), from_args(ns, RunOptions)


def _reproduce_args(argv: list[str] | None) -> argparse.Namespace:
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--reproduce", default=None)
    pre.add_argument("--retrain-float", action="store_true")
    return pre.parse_known_args(argv)[0]


def start_processes(cfg: Config, opts: RunOptions) -> RunOptions:
    """Sets the CPU device count and joins a distributed run (:mod:`jaxgru.distributed`);
    returns the options, quiet on every process but the main one."""
    if opts.joins_others():
        distributed.initialize(opts.coordinator, opts.num_processes, opts.process_id, cpu_devices=opts.cpu_devices)
    elif opts.cpu_devices is not None:
        distributed.set_cpu_devices(opts.cpu_devices)
    if cfg.population < jax.device_count():
        raise ValueError(f"the population ({cfg.population}) is smaller than the {jax.device_count()} devices it is "
                         f"sharded over, so some would only score copies; use --population >= {jax.device_count()} "
                         "or fewer devices.")
    return opts if distributed.is_main() else dataclasses.replace(opts, quiet=True)


def main(argv: list[str] | None = None) -> int:
    try:
        cfg, opts = parse_args(argv)
        opts = start_processes(cfg, opts)
        args = _reproduce_args(argv)
        if args.reproduce is not None:
            found = reproduce(args.reproduce, opts, retrain=args.retrain_float)
            verdict = f"differs, first at {found.difference}" if found.difference else \
                "identical (summary, front, baseline)"
            print(f"{args.reproduce} rerun in {found.scratch}: {verdict}")
            print(FLOAT_MODEL_NOTE[found.float_model])
            print(environment_note(found.environment))
            return 0 if found.difference is None else 1
        train_and_evaluate(cfg, opts)
    except (ValueError, FileNotFoundError, FileExistsError, RuntimeError) as err:
        print(f"error: {command_line_message(str(err))}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
