"""The world model's losses by when the replayed steps were collected
(agent/analysis/model_by_age.py): runs of steps read across a real Replay's ring after it
wrapped, and the command on a real run's checkpoint and on bad arguments."""

import math
from functools import partial

import pytest
import torch
from gymnasium.spaces import Box, Dict

from agent.analysis.model_by_age import runs_at
from agent.loop.replay import Replay
from envs import ObservationSpec
from tests.helpers import run_module, smoke_run_folder


def test_runs_are_read_from_a_wrapped_ring_in_the_order_their_steps_were_written():
    replay = Replay(100, 2, ObservationSpec(Dict({"step": Box(0, 1e6, (1,))})), 1)
    for s in range(130):  # 50 steps kept per stream: 80 .. 129, step s in slot s % 50
        replay.add({"step": torch.tensor([[float(s)], [1000.0 + s]])}, torch.full((2, 1), s),
                   torch.full((2,), float(s)), torch.zeros(2), torch.ones(2))
    # Stream 0 from step 95 crosses the ring's seam (slot 49, then slot 0); stream 1 from 120.
    batch = runs_at(replay.state_dict(), torch.tensor([0, 1]), torch.tensor([95, 120]), 10)
    assert batch.obs["step"][0, :, 0].tolist() == [float(s) for s in range(95, 105)]
    assert batch.obs["step"][1, :, 0].tolist() == [1000.0 + s for s in range(120, 130)]
    # Every array comes from the same steps as the observations.
    assert batch.action[0, :, 0].tolist() == [float(s) for s in range(95, 105)]
    assert batch.reward[1].tolist() == [float(s) for s in range(120, 130)]


@pytest.fixture(scope="module")
def run_folder(tmp_path_factory):
    return smoke_run_folder(tmp_path_factory, "model_by_age")


command = partial(run_module, "agent.analysis.model_by_age")


def rows(stdout: str) -> list[list[str]]:
    return [[cell.strip() for cell in line.strip("|").split("|")]
            for line in stdout.splitlines()[3:]]


def test_each_window_of_a_real_run_gets_its_losses(run_folder):
    shown = command(str(run_folder), "--every", "100", "--windows", "3", "--seq-len", "16")
    assert shown.returncode == 0, shown.stderr
    assert "checkpoint at 200 env steps" in shown.stdout.splitlines()[0]
    assert shown.stdout.splitlines()[1] == "| env steps | recon | dyn |"
    table = rows(shown.stdout)
    assert [row[0] for row in table] == ["100", "200"]
    for _, recon, dyn in table:
        assert 0 < float(recon) < math.inf and 0 <= float(dyn) < math.inf


def test_a_window_too_short_for_a_run_shows_no_losses(run_folder):
    shown = command(str(run_folder), "--every", "10", "--seq-len", "16")
    assert shown.returncode == 0, shown.stderr
    assert {tuple(row[1:]) for row in rows(shown.stdout)} == {("-", "-")}


@pytest.mark.parametrize("args, message", [
    (["--seq-len", "8"], "runs of 8 steps leave nothing to score"),
    (["--windows", "0"], "--windows 0 scores nothing"),
    (["--every", "0"], "--every must be a positive number")])
def test_arguments_it_cannot_use_are_refused_with_the_fix(run_folder, args, message):
    refused = command(str(run_folder), *args)
    assert refused.returncode != 0 and message in refused.stderr
    assert "Traceback" not in refused.stderr
