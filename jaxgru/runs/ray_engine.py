"""A sweep's runs as Ray tasks (``experiments/sweep.py --engine ray``).

Each run is one task with the resources the sweep asks per run (CPUs, GPUs, TPUs: Ray's ``TPU``
resource, which a TPU VM's Ray node advertises). Runs write to the same run folders as the local
engine, so the folders must be on a file system every node sees (on a cluster: NFS, a bucket
mounted with gcsfuse, or the head node alone); a finished run is skipped and an interrupted one
resumed exactly as on the local engine, and one failed run is reported without stopping the
others. With no ``address``, Ray starts on this machine (or joins the cluster ``RAY_ADDRESS``
names); ``address`` joins a running cluster (``ray start --head`` on one node, ``ray start
--address HEAD:6379`` on the others). Results do not depend on where a run lands: PTQ scoring is
integer arithmetic, and float sums are in a fixed order (:mod:`jaxgru.runtime`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

RAY_MISSING = "--engine ray needs Ray, which is not installed; install it with: pip install 'jaxgru[ray]'"


def import_ray():
    """Ray, or ``RuntimeError`` with one line saying how to install it."""
    try:
        import ray
    except ImportError:
        raise RuntimeError(RAY_MISSING) from None
    return ray


def _reason(err: BaseException) -> str:
    """The run's own exception in one line (Ray wraps it with the worker's traceback)."""
    cause = getattr(err, "cause", None) or err
    text = str(cause).strip().splitlines()
    return f"{type(cause).__name__}: {text[-1] if text else ''}".strip()


def run_on_ray(fn: Callable[..., Any], tasks: Sequence[tuple], *, address: str | None = None, cpus: float = 1.0,
               gpus: float = 0.0, tpus: float = 0.0) -> Iterator[tuple[int, str | None]]:
    """``fn(*task)`` for every task as a Ray task with ``cpus``, ``gpus`` and ``tpus`` each;
    yields ``(task index, None)`` as each finishes, or ``(task index, reason)`` where one failed
    (the others go on). Joins Ray where it runs already, else starts or joins it at ``address``."""
    ray = import_ray()
    if not ray.is_initialized():
        try:
            ray.init(address=address, ignore_reinit_error=True, log_to_driver=False, include_dashboard=False)
        except Exception as err:  # Ray raises several types for an unreachable or bad address
            raise RuntimeError(f"could not start or join Ray at {address or 'this machine'}: {_reason(err)}") from None
    remote = ray.remote(num_cpus=cpus, num_gpus=gpus, resources={"TPU": tpus} if tpus else None,
                        max_retries=0)(fn)
    pending = {remote.remote(*task): i for i, task in enumerate(tasks)}
    while pending:
        done, _ = ray.wait(list(pending), num_returns=1)
        for ref in done:
            i = pending.pop(ref)
            try:
                ray.get(ref)
            except Exception as err:  # the run's own error, wrapped by Ray
                yield i, _reason(err)
            else:
                yield i, None
