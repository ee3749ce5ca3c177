"""Resuming: the same run as if it had never stopped, from the last complete checkpoint."""

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from agent.loop import checkpoint

ROOT = Path(__file__).resolve().parents[1]
# One torch thread: test workers run side by side, and threads that outnumber the cores
# slow a run many times over.
TINY = ["preset=debug", "wandb.mode=disabled", "log.progress=false", "seed=1", "threads=1"]


def run(*args: str, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    """run.py in a subprocess; one that outlives `timeout` is stopped with SIGABRT, which makes
    Python print where every thread was (faulthandler), and the test fails with that."""
    env = {**os.environ, "PYTHONFAULTHANDLER": "1"}
    with subprocess.Popen([sys.executable, str(ROOT / "run.py"), *args], cwd=cwd, env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as process:
        try:
            stdout, stderr = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.send_signal(signal.SIGABRT)
            try:
                stdout, stderr = process.communicate(timeout=60)
            except subprocess.TimeoutExpired:  # not even the dump came
                process.kill()
                stdout, stderr = process.communicate()
            pytest.fail(f"run.py {' '.join(args)} still running after {timeout} s; where it "
                        f"was:\n{stderr[-6000:]}")
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


def learning_events(run_dir: Path) -> list[dict]:
    """Every metrics line without wall-clock figures (perf/), which differ by nature."""
    return [{k: v for k, v in json.loads(line).items() if not k.startswith("perf/")}
            for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def same(a, b) -> bool:
    """Bitwise equal tensors, also inside the nested optimizer state."""
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    return torch.equal(a, b) if torch.is_tensor(a) else a == b


def final_weights(run_dir: Path) -> dict[str, torch.Tensor]:
    return checkpoint.load(checkpoint.latest(run_dir / "checkpoints"))["agent"]


@pytest.fixture(scope="module")
def trained_200(tmp_path_factory) -> Path:
    """A finished 200-step run; tests that resume it work on a copy of the folder."""
    run_dir = tmp_path_factory.mktemp("trained") / "run"
    result = run(*TINY, "steps=200", "checkpoint.every=200", f"run_dir={run_dir}",
                 cwd=run_dir.parent)
    assert result.returncode == 0, result.stderr
    return run_dir


def copied(run_dir: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "run"
    shutil.copytree(run_dir, copy)
    return copy


def test_stop_and_resume_gives_bitwise_the_same_run(trained_200, tmp_path):
    """CPU, fixed seed and thread count: identical weights and metrics. Bitwise equality
    holds because every source of randomness (torch, numpy generators, envs) is restored."""
    straight, split = tmp_path / "straight", copied(trained_200, tmp_path)
    assert run(*TINY, "steps=400", "checkpoint.every=200", f"run_dir={straight}",
               cwd=tmp_path).returncode == 0
    result = run(f"resume={split}", "steps=400", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    a, b = final_weights(straight), final_weights(split)
    assert a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    assert learning_events(straight) == learning_events(split)
    steps = [e["step"] for e in learning_events(split)]
    assert steps == sorted(steps)  # no duplicated events after the resume point


@pytest.mark.parametrize("override, key", [("model.units=64", "model.units"),
                                           ("quantizer.groups=4", "quantizer.groups"),
                                           ("env.id=Acrobot-v1", "env.id"),
                                           # what the steps already trained used
                                           ("seed=7", "seed"),
                                           ("train.train_ratio=128", "train.train_ratio"),
                                           ("train.model_opt.lr=0.001", "train.model_opt.lr"),
                                           ("train={train_ratio: 128}",
                                            "train.train_ratio"),  # a dict value
                                           ("run_dir=elsewhere", "run_dir")])
def test_resume_refuses_overrides_that_change_what_was_trained(trained_200, tmp_path,
                                                               override, key):
    run_dir = copied(trained_200, tmp_path)
    before = (run_dir / "metrics.jsonl").read_text()
    result = run(f"resume={run_dir}", "steps=400", override, cwd=tmp_path)
    assert result.returncode != 0
    lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and key in lines[0]
    assert (run_dir / "metrics.jsonl").read_text() == before


def test_resume_takes_the_saved_value_again_and_how_the_run_is_carried_out(trained_200,
                                                                            tmp_path):
    run_dir = copied(trained_200, tmp_path)
    # threads=2 only to differ from the saved 1: how a run is carried out may change
    result = run(f"resume={run_dir}", "steps=300", "seed=1", "threads=2", "eval.every=150",
                 "checkpoint.every=50", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "with ['steps=300', 'threads=2', 'eval.every=150', 'checkpoint.every=50']" in (
        result.stderr)  # seed=1 is the saved seed: nothing changed, nothing to say
    assert json.loads((run_dir / "summary.json").read_text())["steps"] == 300


STALL_IN_SECOND_CHECKPOINT = textwrap.dedent("""
    import runpy, sys, time
    import agent.loop.checkpoint as ck
    original, calls = ck.write_atomically, []

    def stalling(path, write):
        def write_then_stall(f):
            write(f)
            if path.suffix == ".pt":
                calls.append(path)
                if len(calls) == 2:  # the second checkpoint: half on disk, never renamed
                    f.flush()
                    print("STALLED", flush=True)
                    time.sleep(600)
        original(path, write_then_stall)

    ck.write_atomically = stalling
    sys.argv = sys.argv[1:]
    runpy.run_path(sys.argv[0], run_name="__main__")
""")


def test_killed_while_writing_a_checkpoint_resumes_from_the_last_complete_one(tmp_path):
    run_dir = tmp_path / "run"
    proc = subprocess.Popen(
        [sys.executable, "-c", STALL_IN_SECOND_CHECKPOINT, str(ROOT / "run.py"), *TINY,
         "steps=400", "checkpoint.every=100", f"run_dir={run_dir}"],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    for line in proc.stdout:
        if "STALLED" in line:
            break
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
    folder = run_dir / "checkpoints"
    assert list(folder.glob(".ckpt-0000000200.pt.tmp"))  # the half-written file
    assert checkpoint.latest(folder).name == "ckpt-0000000100.pt"
    result = run(f"resume={run_dir}", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert json.loads((run_dir / "summary.json").read_text())["steps"] == 400
    steps = [e["step"] for e in learning_events(run_dir)]
    assert steps == sorted(steps) and len(steps) == len(set(map(tuple, (
        sorted(e.items()) for e in learning_events(run_dir)))))
