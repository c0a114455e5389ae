"""One search over two processes (JAX's multi-controller runtime, two CPU devices each, Gloo
collectives) equals the same search in one process with four devices; a process that dies stops
the other within a bounded time; and the bad inputs of a distributed run are one line each."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import pytest
from conftest import REPO, TINY, data_dir, run_dir_with

from jaxgru.runs.reproduce import COMPARED, first_difference

# Each process runs a search step by step and prints a digest of its final state (strategy state,
# every genome and objective), so that the processes can be compared with each other.
PROGRAM = """
import hashlib, sys, numpy as np, jax
from flax import serialization
from jaxgru.runs.cli import parse_args, start_processes
from jaxgru.runs.prepare import prepare
from jaxgru.runs.reporting import report
from jaxgru.runs.scoring import Scorer
from jaxgru.runs.searching import search
cfg, opts = parse_args(sys.argv[1:])
opts = start_processes(cfg, opts)
prep = prepare(cfg, opts)
scorer = Scorer(prep)
result = search(prep, scorer, opts)
report(prep, scorer, result)
digest = hashlib.sha256()
for leaf in jax.tree.leaves(serialization.to_state_dict(result.state)) + [result.genomes, result.objectives]:
    digest.update(np.asarray(leaf).tobytes())
print("STATE", jax.process_index(), jax.device_count(), digest.hexdigest(), flush=True)
"""
TIMEOUT = 300  # seconds for a whole run; a hang fails the test instead of the suite


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def _env() -> dict:
    # Each process sets its own CPU device count; an XLA_FLAGS device count would override it.
    return {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}


def _start(args: list[str]) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", PROGRAM, *args], cwd=REPO, env=_env(), text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _finish(proc: subprocess.Popen) -> str:
    try:
        out, err = proc.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        proc.kill()
        pytest.fail(f"a process ran past {TIMEOUT} s")
    assert proc.returncode == 0, err[-3000:]
    return next(line for line in out.splitlines() if line.startswith("STATE"))


def test_two_processes_equal_one_process_with_as_many_devices(tmp_path, tiny_float_model):
    run = TINY[: TINY.index("--quiet")] + ["--population", "8", "--data-dir", str(data_dir()), "--quiet"]
    one, two = (run_dir_with(tiny_float_model, tmp_path / name) for name in ("one", "two"))
    port = _free_port()
    procs = [_start(run + ["--out", str(two), "--coordinator", f"localhost:{port}", "--num-processes", "2",
                           "--process-id", str(k), "--cpu-devices", "2"]) for k in (0, 1)]
    states = [_finish(p).split() for p in procs]
    assert [s[1:3] for s in states] == [["0", "4"], ["1", "4"]]  # each saw the four devices of both
    assert states[0][3] == states[1][3], "the two processes ended in different states"
    single = _finish(_start(run + ["--out", str(one), "--cpu-devices", "4"])).split()
    assert single[2] == "4" and single[3] == states[0][3]
    for name in COMPARED:
        saved, rerun = (json.loads((d / name).read_text()) for d in (one, two))
        assert first_difference(saved, rerun) is None, (name, first_difference(saved, rerun))
    for name in ("evaluated.csv", "history.csv"):
        one_rows = [r.split(",")[:-1] if name == "history.csv" else r for r in (one / name).read_text().splitlines()]
        two_rows = [r.split(",")[:-1] if name == "history.csv" else r for r in (two / name).read_text().splitlines()]
        assert one_rows == two_rows, name  # history's last column is the wall time
    assert sorted(p.name for p in (two / "checkpoints").iterdir()) == ["1", "2"]  # written by both, together


DEAD = """
import os, sys
from jaxgru import distributed
from jaxgru.model.population import population_accuracy
distributed.initialize(sys.argv[1], 2, int(sys.argv[2]), cpu_devices=1, timeout=60, heartbeat_timeout=5)
if distributed.is_main():
    import time
    time.sleep(600)  # waits for the other, which never comes; the heartbeat check must end it
os._exit(0)
"""


def test_a_process_that_dies_stops_the_other_within_a_bounded_time():
    port = _free_port()
    procs = [subprocess.Popen([sys.executable, "-c", DEAD, f"localhost:{port}", str(k)], cwd=REPO, env=_env(),
                              text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE) for k in (0, 1)]
    try:
        _, err = procs[0].communicate(timeout=120)
    except subprocess.TimeoutExpired:
        for p in procs:
            p.kill()
        pytest.fail("the surviving process hung instead of stopping after the heartbeat timeout")
    procs[1].communicate(timeout=60)
    assert procs[0].returncode != 0
    assert "another task died" in err or "stopped sending heartbeats" in err, err[-2000:]


def _run_cli(args: list[str], timeout: int = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "experiments/run.py", *args], cwd=REPO, env=_env(), text=True,
                          capture_output=True, timeout=timeout)


@pytest.mark.parametrize("args, says", [
    (["--coordinator", "localhost:1", "--num-processes", "2"], "together"),
    (["--coordinator", "localhost:1", "--num-processes", "2", "--process-id", "2"], "must be 0..1"),
    (["--cpu-devices", "8"], "population (6) is smaller than the 8 devices"),
])
def test_bad_settings_are_one_line(args, says, tmp_path):
    out = _run_cli(TINY + ["--out", str(tmp_path / "run"), *args])
    line = [ln for ln in out.stderr.splitlines() if ln.startswith("error:")]
    assert out.returncode == 2 and len(line) == 1 and says in line[0], out.stderr[-2000:]


def test_a_coordinator_that_never_answers_is_one_line_after_the_timeout(tmp_path):
    # Process 1 of 2 waits for a coordinator nobody runs (the port is closed).
    program = ("import sys\nfrom jaxgru.runs.cli import main\nfrom jaxgru import distributed\n"
               "distributed.DEFAULT_TIMEOUT = 5\nsys.exit(main(sys.argv[1:]))")
    args = TINY + ["--out", str(tmp_path / "run"), "--coordinator", f"localhost:{_free_port()}",
                   "--num-processes", "2", "--process-id", "1"]
    out = subprocess.run([sys.executable, "-c", program, *args], cwd=REPO, env=_env(), text=True,
                         capture_output=True, timeout=120)
    assert out.returncode == 2, out.stderr[-2000:]
    line = [ln for ln in out.stderr.splitlines() if ln.startswith("error:")]
    assert len(line) == 1 and "did not answer within 5 s" in line[0], out.stderr[-2000:]
