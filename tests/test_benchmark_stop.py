"""A benchmark stopped with SIGTERM stops its training runs too: each saves a checkpoint and
exits, instead of training on as an orphan."""

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from agent.loop import checkpoint
from agent.loop.lock import holder

ROOT = Path(__file__).resolve().parents[1]


def test_sigterm_to_a_suite_benchmark_stops_every_run_it_trains_with_a_checkpoint(tmp_path):
    pytest.importorskip("minatar", reason="the minatar extra is not installed")
    out = tmp_path / "minatar.json"
    # Two games side by side (--jobs 2): their runs are waited on by the benchmark's
    # worker threads, while the signal reaches its main thread.
    bench = subprocess.Popen(
        [sys.executable, str(ROOT / "benchmarks/minatar_suite.py"), "--games", "breakout",
         "asterix", "--jobs", "2", "--steps", "100000", "--eval-every", "0", "--out", str(out),
         "preset=debug", "checkpoint.every=0"],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    runs = [tmp_path / "minatar-runs" / f"{game}-s0" for game in ("breakout", "asterix")]
    deadline = time.time() + 300
    while time.time() < deadline and not all(
            (run / "metrics.jsonl").exists() and (run / "metrics.jsonl").read_text().strip()
            for run in runs):
        assert bench.poll() is None, bench.communicate()
        time.sleep(0.5)

    bench.send_signal(signal.SIGTERM)
    stdout, stderr = bench.communicate(timeout=300)
    assert bench.returncode == -signal.SIGTERM, stderr  # it ends as SIGTERM ends a process
    assert stderr.count("stopped by SIGTERM") == 2, stderr
    # The benchmark's own lines say the runs were stopped and how to go on, not "crashed".
    assert stdout.count("stopped by SIGTERM (exit 143); the same command") == 2, stdout
    assert "crashed" not in stdout, stdout
    for run in runs:
        assert holder(run) is None  # no process runs in the folder any more
        latest = checkpoint.latest(run / "checkpoints")  # periodic ones were off
        assert latest is not None, f"{run.name} saved no checkpoint"
        assert 0 < checkpoint.load(latest)["env_steps"] < 100000
        assert not (run / "summary.json").exists()
    assert not out.exists()  # no table of runs that did not finish
