"""Independent runs side by side, each process on its own share of the CPU cores.

On a CPU, one XLA process does not keep every core busy through a run (float training, QAT and
scoring alternate with sequential search and Python work), so N single-core processes can
finish a sweep sooner than N runs one after another. How much depends on the work: on 2 cores,
``benchmarks/parallel_sweep.py`` measures 1.06x for the ``quick`` PTQ preset and 1.30x for a
small QAT sweep. Workers are spawned, never forked, so no JAX state crosses a process boundary,
and each pins itself before JAX starts its backend, so XLA sizes its thread pool to the cores
it holds. Results do not depend on that: integer (PTQ) scoring is exact, and float sums are in
an order independent of the number of cores (:mod:`jaxgru.runtime`).
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from typing import Any

# XLA's CPU backend maps each compiled executable's code and data into the process (about 900
# regions for one population scoring call). A process that compiles for many runs reaches Linux's
# vm.max_map_count (65,530 by default), and the next compilation segfaults inside XLA.
MAPPED_REGIONS_BUDGET = 40_000


def mapped_regions() -> int:
    """Memory regions mapped into this process (0 where ``/proc`` does not say)."""
    try:
        with open("/proc/self/maps") as f:
            return sum(1 for _ in f)
    except OSError:
        return 0


def bound_compiled_code(budget: int = MAPPED_REGIONS_BUDGET) -> bool:
    """Clears JAX's compilation caches (releasing their executables' memory maps) when this
    process maps more than ``budget`` regions; returns whether it did. Call it between units of
    work in one long-lived process: runs of a sweep, tests, cells of a notebook."""
    if mapped_regions() <= budget:
        return False
    import gc

    import jax

    jax.clear_caches()
    gc.collect()
    return True


def available_cores() -> list[int]:
    """The CPU cores this process may run on (all of them where affinity is unknown)."""
    if hasattr(os, "sched_getaffinity"):
        return sorted(os.sched_getaffinity(0))
    return list(range(os.cpu_count() or 1))


def core_shares(jobs: int, cores: Iterable[int] | None = None) -> list[list[int]]:
    """``jobs`` disjoint, near-equal lists of ``cores`` (default: :func:`available_cores`),
    round robin. Raises ``ValueError`` when there are fewer cores than jobs."""
    cores = sorted(available_cores() if cores is None else cores)
    if not 1 <= jobs <= len(cores):
        raise ValueError(f"jobs must be between 1 and the {len(cores)} CPU cores this process may use; got {jobs}.")
    return [cores[i::jobs] for i in range(jobs)]


def _take_cores(shares) -> None:
    """Pool initializer: this worker takes the next share of cores (a queue of them) for good."""
    os.sched_setaffinity(0, shares.get())


def run_pinned(fn: Callable[..., Any], tasks: Iterable[tuple], jobs: int) -> Iterator[tuple[int, Any]]:
    """``fn(*task)`` for every task, at most ``jobs`` at a time, each worker on its own cores;
    yields ``(task index, result)`` as each finishes. ``fn`` must be importable by name (a
    module-level function of an installed module). ``jobs == 1`` runs in this process, in order.
    An exception in a task is raised here, after the running tasks are cancelled or finished."""
    tasks = list(tasks)
    jobs = min(jobs, len(tasks))
    if jobs <= 1:
        for i, task in enumerate(tasks):
            result = fn(*task)
            bound_compiled_code()
            yield i, result
        return
    ctx = multiprocessing.get_context("spawn")
    pinning = {}
    if hasattr(os, "sched_setaffinity"):  # Linux; elsewhere the workers share every core
        queue = ctx.Queue()
        for share in core_shares(jobs):
            queue.put(share)
        pinning = dict(initializer=_take_cores, initargs=(queue,))
    with ProcessPoolExecutor(jobs, mp_context=ctx, **pinning) as pool:
        pending = {pool.submit(fn, *task): i for i, task in enumerate(tasks)}
        try:
            while pending:
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    yield pending.pop(future), future.result()
        finally:
            for future in pending:
                future.cancel()
