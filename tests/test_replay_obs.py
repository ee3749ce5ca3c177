"""The per-window summary of what a run's replay holds (agent/analysis/replay_obs.py):
which env steps each kept slot of the ring holds, on a real Replay that wrapped, and the
command on a real run's checkpoint and on bad keys."""

from functools import partial

import pytest
import torch
import yaml
from gymnasium.spaces import Box, Dict

from agent.analysis.replay_obs import window_rows
from agent.loop.replay import Replay
from envs import ObservationSpec
from tests.helpers import run_module, smoke_run_folder


def test_a_replay_that_wrapped_shows_its_latest_steps_in_the_windows_they_ended_in():
    space = Dict({"step": Box(0, 1e6, (1,)), "pair": Box(0, 1e6, (2,))})
    replay = Replay(100, 2, ObservationSpec(space), 1)  # 50 steps kept per stream
    for s in range(130):  # s: steps per stream; env steps so far (s + 1) * 2
        obs = {"step": torch.full((2, 1), float(s)),
               "pair": torch.tensor([[0.0, s], [0.0, 1000.0 + s]])}
        replay.add(obs, torch.zeros(2, 1), torch.full((2,), float(s % 2)), torch.zeros(2),
                   torch.ones(2))
    state = {"replay": replay.state_dict(), "config": yaml.safe_dump({"env": {}})}
    columns, rows = window_rows(state, ["step", "pair:1"], every=20, frames=False)
    assert columns == ["step", "pair:1", "reward"]
    # Kept: steps 80..129 per stream, env steps 162..260, in the windows (160, 180] ... .
    assert [end for end, _ in rows] == [180, 200, 220, 240, 260]
    first, last = rows[0][1], rows[-1][1]
    assert first["step"] == pytest.approx((80 + 89) / 2)  # env steps 162..180: s 80..89
    assert first["pair:1"] == pytest.approx((80 + 89) / 2 + 500)  # the streams averaged
    assert last["step"] == pytest.approx((120 + 129) / 2)
    assert first["reward"] == pytest.approx(0.5)
    repeated = {"replay": state["replay"], "config": yaml.safe_dump({"env":
                                                                     {"action_repeat": 2}})}
    assert [end for end, _ in window_rows(repeated, ["step"], 40, frames=True)[1]] == [
        360, 400, 440, 480, 520]  # the same steps, counted in frames


@pytest.fixture(scope="module")
def run_folder(tmp_path_factory):
    return smoke_run_folder(tmp_path_factory, "replay_obs")


command = partial(run_module, "agent.analysis.replay_obs")


def test_the_command_reads_a_run_folders_latest_checkpoint(run_folder):
    shown = command(str(run_folder), "--keys", "obs:2", "--every", "100")
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    assert lines[0] == "| env steps | obs:2 | reward |"
    assert [line.split(" | ")[0] for line in lines[2:]] == ["| 100", "| 200"]
    # CartPole pays 1 a step; the replay stores 0 with each episode's first step.
    rewards = [float(line.split(" | ")[2].rstrip(" |")) for line in lines[2:]]
    assert all(0.8 < reward <= 1.0 for reward in rewards)


def test_a_missing_checkpoint_is_a_one_line_error(tmp_path):
    refused = command(str(tmp_path), "--keys", "obs:0")
    assert refused.returncode != 0 and "neither a checkpoint file nor a run folder" in (
        refused.stderr)
    assert "Traceback" not in refused.stderr


@pytest.mark.parametrize("key, message", [
    ("speed", "no entry 'speed'; they have: obs (4)"),
    ("obs", "'obs' has 4 elements; name one, e.g. obs:0"),
    ("obs:4", "'obs' has elements 0 to 3")])
def test_a_key_it_cannot_read_is_refused_with_what_there_is(run_folder, key, message):
    refused = command(str(run_folder), "--keys", key)
    assert refused.returncode != 0 and message in refused.stderr
