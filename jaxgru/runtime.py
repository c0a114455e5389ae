"""How jaxgru sets up XLA's CPU backend: float sums in an order that does not depend on the number
of cores.

XLA's CPU backend hands reductions (a ``sum`` over a batch: the bias gradients, a mean loss) to
YNNPACK, which splits the summed axis over the threads of its pool, one per core the process may
run on; float addition is not associative, so float training and QAT gave different weights on 1
and on 2 cores. Taking reductions away from YNNPACK (``--xla_cpu_experimental_ynn_fusion_type=
-reduce``; XLA then sums in a fixed tree) makes them identical; dots stay with YNNPACK, whose
results do not depend on the thread count (tested in ``tests/test_determinism.py``; its cost is
measured in ``benchmarks/deterministic_reductions.py``).

The flag has to be in ``XLA_FLAGS`` before JAX starts its CPU backend (its first computation),
so :func:`fix_reduction_order` runs when this module is imported, and ``jaxgru`` imports it
first. It applies only to the jaxlib versions it was verified on (an unknown flag aborts XLA);
set ``JAXGRU_FAST_REDUCTIONS=1`` to leave XLA's default.
"""

from __future__ import annotations

import os
from importlib import metadata

DETERMINISTIC_FLAG = "--xla_cpu_experimental_ynn_fusion_type=-reduce"
VERIFIED_JAXLIB = ("0.10.",)  # jaxlib versions whose XLA knows the flag (prefixes)


def fix_reduction_order(environ: os._Environ | dict = os.environ) -> bool:
    """Adds :data:`DETERMINISTIC_FLAG` to ``XLA_FLAGS`` where it applies; returns whether the
    flag is in effect for backends started from now on."""
    flags = environ.get("XLA_FLAGS", "")
    if "ynn_fusion_type" in flags:  # the user's own choice stands
        return DETERMINISTIC_FLAG in flags.split()
    if environ.get("JAXGRU_FAST_REDUCTIONS") == "1":
        return False
    try:
        version = metadata.version("jaxlib")
    except metadata.PackageNotFoundError:
        return False
    if not version.startswith(VERIFIED_JAXLIB):
        return False
    environ["XLA_FLAGS"] = f"{flags} {DETERMINISTIC_FLAG}".strip()
    return True


fix_reduction_order()
