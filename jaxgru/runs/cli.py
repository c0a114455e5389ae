"""The command line of a search run, end to end: ``python experiments/run.py --task mnist_row``.

Trains (or loads) the float model, calibrates it, searches per-operator bit widths with
NSGA-II and writes the run directory (``--out``, default ``results/<task>``, or
``results/<task>_<cell>`` for a cell other than the GRU). Every option is declared once, in
``jaxgru.runs.config``.
"""

from __future__ import annotations

import argparse
import sys

from jaxgru.runs.config import PRESETS, Config, RunOptions, add_arguments, apply_preset, command_line_message, from_args
from jaxgru.runs.experiment import train_and_evaluate
from jaxgru.runs.reproduce import reproduce


def parse_args(argv: list[str] | None = None) -> tuple[Config, RunOptions]:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--preset", choices=sorted(PRESETS),
                   help="a named set of settings (quick: the first run, about a minute); flags override it")
    p.add_argument("--reproduce", metavar="DIR", default=None,
                   help="rerun the run in DIR from its config.json (into --out, default runs/reproduce/<name>) and "
                        "say whether its summary, front and baseline are identical, else the first difference")
    add_arguments(p.add_argument_group("what defines the run (saved in config.json)"), Config)
    add_arguments(p.add_argument_group("how it is carried out"), RunOptions)
    apply_preset(p, argv)
    ns = p.parse_args(argv)
    return from_args(ns, Config), from_args(ns, RunOptions)


def _reproduce_dir(argv: list[str] | None) -> str | None:
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--reproduce", default=None)
    return pre.parse_known_args(argv)[0].reproduce


def main(argv: list[str] | None = None) -> int:
    try:
        cfg, opts = parse_args(argv)
        reproduce_dir = _reproduce_dir(argv)
        if reproduce_dir is not None:
            scratch, difference = reproduce(reproduce_dir, opts)
            verdict = f"differs, first at {difference}" if difference else "identical (summary, front, baseline)"
            print(f"{reproduce_dir} rerun in {scratch}: {verdict}")
            return 0 if difference is None else 1
        train_and_evaluate(cfg, opts)
    except (ValueError, FileNotFoundError, FileExistsError, RuntimeError) as err:
        print(f"error: {command_line_message(str(err))}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
