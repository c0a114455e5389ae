"""The command line of the C export: ``python experiments/export.py RUN_DIR --front 0``.

Writes ``<name>.h``, ``<name>.c`` and ``<name>.npz`` for one genome of a finished PTQ run and,
with ``--check N``, proves them on N test sequences of the run's task: the NumPy reference, the
host's C compiler and (where the Arm toolchain and QEMU are installed) a Cortex-M4 under QEMU
must give the same logits; prints the Cortex-M4 build's flash and RAM and its instructions per step.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

from jaxgru.deploy import toolchain as tc
from jaxgru.deploy.from_run import Exported, export_run
from jaxgru.model.reference import Reference
from jaxgru.runs.config import Config, saved_settings


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("run_dir", help="a finished run's folder (its config.json, float_model and front.json)")
    p.add_argument("--front", type=int, default=None, help="the genome: this entry of front.json (0: smallest)")
    p.add_argument("--widths", default=None, help="the genome: one width for every operator, or one per operator")
    p.add_argument("--thresholds", default=None,
                   help="delta thresholds (0..7, one for all sources or one per source; default: the front's)")
    p.add_argument("--out", default=None, help="output folder (default RUN_DIR/c_export)")
    p.add_argument("--name", default="jaxgru_model", help="the C model's name: every symbol starts with it")
    p.add_argument("--one-code-per-byte", action="store_true", help="store sub-byte weights one per byte, unpacked")
    p.add_argument("--check", type=int, default=0, metavar="N",
                   help="prove the export on N test sequences: reference, host C and Cortex-M4 under QEMU")
    p.add_argument("--data-dir", default=None, help="where the task's data is (for --check)")
    return p.parse_args(argv)


def check(run_dir: Path, exported: Exported, n: int, data_dir: str | None, packed: bool) -> list[str]:
    """Lines reporting the agreement of the reference, the host C and the Cortex-M4 on ``n`` test
    sequences; ``RuntimeError`` on any difference."""
    cfg = Config(**saved_settings(run_dir / "config.json"))
    splits = cfg.check().load(data_dir, source=cfg.source, quiet=True)
    x = splits.x_test[:n]
    lengths = splits.lengths("test")
    lengths = np.full(len(x), x.shape[1]) if lengths is None else lengths[:n]
    ref = Reference(exported.arrays)
    want, _ = ref.run(x, lengths)
    lines = []
    with tempfile.TemporaryDirectory() as tmp:
        sources = tc.write_harness(tmp, exported.arrays, ref.quantize_input(x), lengths, packed=packed)
        if tc.host_compiler() is not None:
            if not np.array_equal(tc.run_on_host(sources).logits, want):
                raise RuntimeError("the host build's logits differ from the NumPy reference's; please report it.")
            lines.append(f"host C: {len(x)} test sequences, logits identical to the NumPy reference")
        problem = tc.cortex_m_toolchain()
        if problem:
            lines.append(f"Cortex-M4 not checked: {problem}")
        else:
            elf = tc.build_cortex_m(sources)
            out = tc.run_on_qemu(elf)
            if not np.array_equal(out.logits, want):
                raise RuntimeError("the Cortex-M4 build's logits differ from the NumPy reference's; please report it.")
            size = tc.footprint(exported.source)
            per_step = tc.INSTRUCTIONS_PER_TICK * out.ticks.sum() / lengths.sum()
            lines.append(f"Cortex-M4 (QEMU mps2-an386): logits identical; the model takes {size['flash']} bytes of "
                         f"flash, its state {out.state_bytes} bytes of RAM; about {per_step:.0f} "
                         "instructions per step")
    return lines


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        exported = export_run(args.run_dir, args.out, front=args.front, widths=args.widths,
                              thresholds=args.thresholds, name=args.name, packed=not args.one_code_per_byte)
        print(f"wrote {exported.header}, {exported.source} and {exported.npz}")
        if args.check:
            for line in check(Path(args.run_dir), exported, args.check, args.data_dir, not args.one_code_per_byte):
                print(line)
    except (ValueError, FileNotFoundError, RuntimeError, TypeError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
