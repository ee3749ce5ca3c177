"""Checkpoints on disk, evaluation from them, refusing unsafe files, and stopping on SIGTERM."""

import json
import os
import pickle
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import imageio.v3 as iio
import pytest
import torch

from agent.loop import checkpoint

ROOT = Path(__file__).resolve().parents[1]
# One torch thread: with every core (threads=0) beside other busy processes a run slows
# several-fold and could pass the timeout below.
TINY = ["preset=debug", "wandb.mode=disabled", "log.progress=false", "threads=1"]


def tensors(tree):
    """Every tensor in nested dicts and lists."""
    if torch.is_tensor(tree):
        yield tree
    elif isinstance(tree, dict | list | tuple):
        for value in tree.values() if isinstance(tree, dict) else tree:
            yield from tensors(value)


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "run.py"), *args], cwd=cwd,
                          capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    run_dir = tmp_path_factory.mktemp("ckpt") / "run"
    result = run(*TINY, f"run_dir={run_dir}", "checkpoint.every=100", "checkpoint.keep=2",
                 cwd=run_dir.parent)
    assert result.returncode == 0, result.stderr
    return run_dir


def test_checkpoints_are_written_kept_and_verified(trained):
    folder = trained / "checkpoints"
    names = sorted(p.name for p in folder.iterdir())
    assert names == ["ckpt-0000000300.json", "ckpt-0000000300.pt",
                     "ckpt-0000000400.json", "ckpt-0000000400.pt"]
    latest = checkpoint.latest(folder)
    assert latest.name == "ckpt-0000000400.pt" and checkpoint.verified(latest)
    state = checkpoint.load(latest)
    assert state["env_steps"] == 400 and state["updates"] > 0
    assert {"agent", "replay", "driver", "policy", "config"} <= set(state)
    assert any(k.startswith("world_model.quantizer.") for k in state["agent"])
    optimizers = state["agent"]["optimizers._extra_state"]  # the agent's state holds its optimizers
    assert set(optimizers) == {"model", "actor", "critic"}
    assert optimizers["model"]["adam"]["state"]  # Adam moments are in it
    assert optimizers["model"]["updates"] == state["updates"]  # no update skipped in this run


def test_evaluate_loads_weights_and_writes_eval_json(trained):
    result = run(f"evaluate={trained}", "eval.episodes=3", cwd=trained.parent)
    assert result.returncode == 0, result.stderr
    assert "± " in result.stdout and "over 3 episodes" in result.stdout
    saved = json.loads((trained / "eval.json").read_text())
    assert saved["eval/episodes"] == 3 and saved["eval/return"] > 0
    assert saved["env_steps"] == 400
    # A video of one greedy episode: CartPole's 600 x 400 frames, one per step and the reset.
    video = trained / "eval.mp4"
    assert saved["video"] == str(video) and f"video: {video}" in result.stdout
    frames = iio.imread(video)
    assert frames.shape[1:] == (400, 600, 3) and frames.shape[0] >= 2
    assert frames.std() > 0  # not blank


def test_evaluate_a_loose_checkpoint_writes_beside_it_and_takes_eval_greedy(trained, tmp_path):
    import shutil

    loose = tmp_path / "copy" / "ckpt-0000000400.pt"
    loose.parent.mkdir()
    shutil.copy(trained / "checkpoints" / loose.name, loose)
    (tmp_path / "eval.json").write_text("somebody else's")
    result = run(f"evaluate={loose}", "eval.episodes=2", "eval.greedy=false", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "has no checksum file" in result.stderr  # loaded, but said unverified
    saved = json.loads((loose.parent / "ckpt-0000000400-eval.json").read_text())
    assert saved["greedy"] is False and saved["eval/episodes"] == 2
    assert "sampled" in result.stdout
    assert (tmp_path / "eval.json").read_text() == "somebody else's"  # nothing above touched
    # A checksum beside it that does not match: refused.
    shutil.copy(trained / "checkpoints" / "ckpt-0000000300.json", loose.with_suffix(".json"))
    result = run(f"evaluate={loose}", cwd=tmp_path)
    assert result.returncode != 0 and "does not match the checksum" in result.stderr


def test_evaluate_refuses_a_setting_it_would_ignore(trained):
    result = run(f"evaluate={trained}", "env.id=Acrobot-v1", cwd=trained.parent)
    assert result.returncode != 0
    assert "`env.id=Acrobot-v1` does not apply to evaluate=" in result.stderr
    assert "Traceback" not in result.stderr


def test_evaluate_given_a_checksum_file_names_the_checkpoint_beside_it(trained):
    checksum = trained / "checkpoints" / "ckpt-0000000400.json"
    before = checksum.read_bytes()
    result = run(f"evaluate={checksum}", cwd=trained.parent)
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert (f"is the checksum file of a checkpoint; pass the checkpoint beside it, "
            f"{checksum.with_suffix('.pt')}") in result.stderr
    assert checksum.read_bytes() == before


def test_a_corrupted_newest_checkpoint_falls_back_to_the_previous(trained, tmp_path):
    folder = tmp_path / "checkpoints"
    folder.mkdir()
    for p in (trained / "checkpoints").iterdir():
        (folder / p.name).write_bytes(p.read_bytes())
    newest = folder / "ckpt-0000000400.pt"
    newest.write_bytes(newest.read_bytes()[:1000])  # truncated mid-write
    with pytest.warns(UserWarning, match="ckpt-0000000400.pt is truncated or corrupted"):
        assert checkpoint.latest(folder).name == "ckpt-0000000300.pt"


class _Exploit:
    def __init__(self, marker: str):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


@pytest.mark.parametrize("writer", ["pickle", "torch.save"])
@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
def test_a_pickle_that_would_run_code_is_refused_and_runs_nothing(tmp_path, writer):
    marker = tmp_path / "pwned"
    folder = tmp_path / "run" / "checkpoints"
    folder.mkdir(parents=True)
    path = folder / "ckpt-0000000001.pt"
    payload = {"agent": _Exploit(str(marker))}
    if writer == "pickle":
        with open(path, "wb") as f:
            pickle.dump(payload, f)
    else:
        torch.save(payload, path)
    # A checksum that matches, so only the content can stop it.
    meta = {"step": 1, "sha256": checkpoint._sha256(path), "bytes": path.stat().st_size}
    path.with_suffix(".json").write_text(json.dumps(meta))
    with pytest.raises(checkpoint.CheckpointError, match="other than tensors"):
        checkpoint.load(path)
    result = run(f"evaluate={path}", cwd=tmp_path)
    assert result.returncode != 0 and "error:" in result.stderr
    assert not marker.exists()


def test_sigterm_stops_cleanly_with_a_checkpoint_and_closed_metrics(tmp_path):
    run_dir = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, str(ROOT / "run.py"), *TINY, "steps=100000",
                             f"run_dir={run_dir}", "checkpoint.every=0"],
                            cwd=tmp_path, stderr=subprocess.PIPE, text=True)
    metrics = run_dir / "metrics.jsonl"
    deadline = time.time() + 120
    while time.time() < deadline and (not metrics.exists() or
                                      len(metrics.read_text().splitlines()) < 3):
        time.sleep(0.5)
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 143, stderr  # the shell's code for SIGTERM, checkpoint written
    assert "stopped by SIGTERM" in stderr
    events = [json.loads(line) for line in metrics.read_text().splitlines()]
    latest = checkpoint.latest(run_dir / "checkpoints")
    state = checkpoint.load(latest)
    assert 0 < state["env_steps"] < 100000
    assert state["env_steps"] >= events[-1]["step"]
    assert not (run_dir / "summary.json").exists()  # stopped, not finished
    assert torch.is_tensor(next(iter(state["agent"].values())))
    assert os.path.exists(latest.with_suffix(".json"))


def test_non_finite_updates_are_skipped_then_the_run_stops_with_a_clean_checkpoint(tmp_path):
    run_dir = tmp_path / "run"
    result = run(*TINY, "env.id=tests.custom_env:NaNCartPole-v0", "steps=400",
                 "eval.every=0", "nan.patience=3", f"run_dir={run_dir}", cwd=ROOT)
    assert result.returncode != 0
    skipped = [line for line in result.stderr.splitlines() if "update skipped" in line]
    assert len(skipped) >= 3 and all("non-finite recon" in line for line in skipped)
    assert skipped[-1].endswith("(3 in a row)")
    last = [line for line in result.stderr.splitlines() if line.strip()][-1]
    assert last.startswith("error: training stopped: 3 consecutive updates")
    # error.txt, as any crash leaves: a report lists the run as crashed, not unfinished
    assert (run_dir / "error.txt").read_text().startswith("training stopped: 3 consecutive")
    state = checkpoint.load(checkpoint.latest(run_dir / "checkpoints"))
    # Weights and optimizer moments alike.
    assert all(torch.isfinite(v).all() for v in tensors(state["agent"]) if v.is_floating_point())


def test_no_valid_checkpoint_is_a_clear_error(trained, tmp_path):
    run_dir = tmp_path / "run"
    shutil.copytree(trained, run_dir)
    for p in (run_dir / "checkpoints").glob("*.pt"):
        p.write_bytes(p.read_bytes()[:500])  # every checkpoint truncated
    with pytest.warns(UserWarning, match="truncated or corrupted"):
        with pytest.raises(checkpoint.CheckpointError, match="no valid checkpoint|valid "
                                                             "checkpoint in checkpoints/"):
            checkpoint.find(run_dir)
    result = run(f"resume={run_dir}", cwd=tmp_path)
    assert result.returncode != 0 and "valid checkpoint" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_run_stopped_before_its_first_checkpoint_says_to_start_again(trained, tmp_path):
    run_dir = tmp_path / "run"
    shutil.copytree(trained, run_dir)
    shutil.rmtree(run_dir / "checkpoints")  # stopped before its first
    with pytest.raises(checkpoint.CheckpointError, match="run folder with no valid checkpoint"):
        checkpoint.find(run_dir)  # as evaluate= finds it: no advice to start again
    result = run(f"resume={run_dir}", cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1].endswith(
        "there is nothing to resume; move the folder aside and start the run again")


def test_a_checkpoint_file_left_without_its_checksum_is_removed_at_the_next_save(tmp_path):
    folder = tmp_path / "checkpoints"
    checkpoint.save(folder, 100, {"w": torch.ones(2)})
    orphan = folder / "ckpt-0000000150.pt"  # killed before its .json was written
    orphan.write_bytes((folder / "ckpt-0000000100.pt").read_bytes())
    checkpoint.save(folder, 200, {"w": torch.ones(2)})
    assert sorted(p.name for p in folder.iterdir()) == [
        "ckpt-0000000100.json", "ckpt-0000000100.pt", "ckpt-0000000200.json",
        "ckpt-0000000200.pt"]


def test_a_damaged_newer_checkpoint_never_costs_the_run_its_good_ones(tmp_path):
    """Resumed from 200 because 300 is damaged, the run saves 250 with keep=1: 250 stays
    (the next resume starts there), and the damaged file is left as it was."""
    folder = tmp_path / "checkpoints"
    for step in (200, 300):
        checkpoint.save(folder, step, {"w": torch.full((2,), float(step))}, keep=3)
    damaged = folder / "ckpt-0000000300.pt"
    damaged.write_bytes(damaged.read_bytes()[:100])
    with pytest.warns(UserWarning, match="ckpt-0000000300.pt is truncated or corrupted"):
        assert checkpoint.latest(folder).name == "ckpt-0000000200.pt"
    checkpoint.save(folder, 250, {"w": torch.full((2,), 250.0)}, keep=1)
    assert sorted(p.name for p in folder.iterdir()) == [
        "ckpt-0000000250.json", "ckpt-0000000250.pt", "ckpt-0000000300.json",
        "ckpt-0000000300.pt"]
    with pytest.warns(UserWarning, match="ckpt-0000000300.pt is truncated or corrupted"):
        found = checkpoint.latest(folder)
    assert found.name == "ckpt-0000000250.pt"
    assert checkpoint.load(found)["w"].tolist() == [250.0, 250.0]
