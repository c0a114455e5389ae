"""One search over several processes (hosts), on JAX's multi-controller runtime.

Every process runs the same program (``python experiments/run.py --distributed ...`` on each
host). :func:`initialize` joins them (``jax.distributed.initialize``); ``jax.devices()`` then
lists every host's devices, and :func:`jaxgru.model.population.population_scores` shards a
population over all of them and returns every score to every process. Each process draws from
the same keys, so the search's state is the same everywhere without being sent; only the main
process (index 0) writes files and prints. Orbax's checkpoints are written by every process
together (it coordinates them), so a run folder must be one that every host sees (a shared or
network filesystem).
"""

from __future__ import annotations

import os
import socket
import time

import jax

# Read when an argument is not given; JAX itself reads JAX_COORDINATOR_ADDRESS.
ENV_COORDINATOR, ENV_PROCESSES, ENV_PROCESS_ID = "JAX_COORDINATOR_ADDRESS", "JAX_NUM_PROCESSES", "JAX_PROCESS_ID"
DEFAULT_TIMEOUT = 300  # seconds to wait for every process to join
DEFAULT_HEARTBEAT = 60  # seconds without a heartbeat after which a process counts as dead


def _int_env(name: str) -> int | None:
    value = os.environ.get(name)
    if value is None or value == "":
        return None
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"${name} must be an integer; got {value!r}.") from None


def initialize(
    coordinator_address: str | None = None,
    num_processes: int | None = None,
    process_id: int | None = None,
    *,
    cpu_devices: int | None = None,
    timeout: int | None = None,
    heartbeat_timeout: int | None = None,
) -> None:
    """Joins this process to the others of one program (``jax.distributed.initialize``); call
    it before anything else runs on a device.

    With no argument and none of ``$JAX_COORDINATOR_ADDRESS``, ``$JAX_NUM_PROCESSES``,
    ``$JAX_PROCESS_ID`` set, JAX detects the cluster (Cloud TPU, SLURM, Open MPI). Otherwise
    all three are needed: ``coordinator_address`` (``host:port`` of process 0, which listens
    there), the number of processes and this one's index. ``cpu_devices``: CPU devices per
    process (trying it out on one machine; collectives between them over Gloo). A process that
    cannot reach the others within ``timeout`` seconds (default :data:`DEFAULT_TIMEOUT`) raises
    :class:`RuntimeError`, and one that stops sending heartbeats for ``heartbeat_timeout`` seconds
    (default :data:`DEFAULT_HEARTBEAT`) makes JAX stop the others (they exit, saying that another
    task died), so that no process waits for a dead one."""
    timeout = DEFAULT_TIMEOUT if timeout is None else timeout
    heartbeat_timeout = DEFAULT_HEARTBEAT if heartbeat_timeout is None else heartbeat_timeout
    coordinator_address = coordinator_address or os.environ.get(ENV_COORDINATOR) or None
    num_processes = num_processes if num_processes is not None else _int_env(ENV_PROCESSES)
    process_id = process_id if process_id is not None else _int_env(ENV_PROCESS_ID)
    given = [v is not None for v in (coordinator_address, num_processes, process_id)]
    if any(given) and not all(given):
        raise ValueError("a distributed run needs the coordinator address, the number of processes and this "
                         f"process's index together (or none of them, to detect the cluster); set --coordinator/"
                         f"${ENV_COORDINATOR}, --num-processes/${ENV_PROCESSES} and --process-id/${ENV_PROCESS_ID}.")
    if num_processes is not None and not 0 <= process_id < num_processes:
        raise ValueError(f"the process index must be 0..{num_processes - 1} for {num_processes} processes; "
                         f"got {process_id}.")
    if jax.distributed.is_initialized():
        return
    if cpu_devices is not None:
        set_cpu_devices(cpu_devices)
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    if coordinator_address is not None and process_id != 0:
        # JAX ends the process (no exception) when the coordinator never answers; ask first.
        _wait_for_coordinator(coordinator_address, timeout)
    try:
        jax.distributed.initialize(coordinator_address, num_processes, process_id, initialization_timeout=timeout,
                                   heartbeat_timeout_seconds=heartbeat_timeout)
    except Exception as err:  # JAX raises several types; one line says what failed
        where = f"the coordinator at {coordinator_address}" if coordinator_address else "the detected cluster"
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise RuntimeError(f"could not join {where} within {timeout} s ({first}); check that every process was "
                           "started with the same coordinator address (process 0's host:port, reachable from the "
                           "others) and process count, and call jaxgru.distributed.initialize() before anything "
                           "else uses JAX.") from err


def _wait_for_coordinator(address: str, timeout: float) -> None:
    """Returns once ``host:port`` accepts a connection; :class:`RuntimeError` after ``timeout`` s."""
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise ValueError(f"the coordinator address must be host:port; got {address!r}.")
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection((host.strip("[]"), int(port)), timeout=2):
                return
        except OSError as err:
            if time.monotonic() >= deadline:
                raise RuntimeError(f"the coordinator at {address} did not answer within {timeout} s ({err}); start "
                                   "process 0 there (it runs the coordinator), or give the address it listens "
                                   "on.") from None
            time.sleep(0.5)


def set_cpu_devices(n: int) -> None:
    """``n`` CPU devices in this process (set before anything runs on a device)."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"the CPU device count must be an integer >= 1; got {n!r}.")
    try:
        jax.config.update("jax_num_cpu_devices", n)
    except RuntimeError as err:
        raise RuntimeError(f"cannot set {n} CPU devices: JAX's CPU backend has already started ({err}); set it "
                           "before anything else uses JAX.") from None


def is_main() -> bool:
    """Whether this process writes files and prints: always in a single-process run (it does not
    start JAX's backends), else only process 0."""
    return not jax.distributed.is_initialized() or jax.process_index() == 0


def spans_processes(devices) -> bool:
    """Whether ``devices`` include another process's (so results must be gathered to every process)."""
    return any(d.process_index != jax.process_index() for d in devices)
