"""How far a run's code moved between two checkpoints (agent/analysis/code_drift.py), on
real run folders: a checkpoint against itself, against a copy whose first group was moved,
and the refusals."""

from functools import partial

import pytest
import torch

from agent.analysis.code_drift import replayed_obs
from agent.loop import checkpoint
from tests.helpers import run_module, smoke_run, smoke_run_folder

command = partial(run_module, "agent.analysis.code_drift")


@pytest.fixture(scope="module")
def run_folder(tmp_path_factory):
    return smoke_run_folder(tmp_path_factory, "code_drift")


def shares(stdout: str) -> list[float]:
    """The table's last row: each group's share, then the mean and `any`."""
    return [float(cell) for cell in stdout.splitlines()[-1].strip("|").split("|")[1:]]


def edited_copy(run_folder, tmp_path, edit) -> str:
    """The run's latest checkpoint, changed by `edit(state)` and saved as a checkpoint."""
    state = checkpoint.load(checkpoint.find(run_folder))
    edit(state)
    return str(checkpoint.save(tmp_path / "edited", state["env_steps"], state))


def test_observations_are_drawn_from_the_steps_the_replay_holds_without_repeats():
    replay = {"reward": torch.zeros(2, 50), "written": 30,  # slots 30 .. 49 hold nothing
              "obs": {"step": torch.stack([torch.arange(50.0), 100 + torch.arange(50.0)])}}
    drawn = replayed_obs(replay, 60, seed=0)["step"]
    assert sorted(drawn.tolist()) == [*range(30), *range(100, 130)]
    assert replayed_obs(replay, 10, seed=0)["step"].tolist() == drawn[:10].tolist()


def test_a_checkpoint_against_itself_has_not_moved(run_folder):
    shown = command(str(run_folder), str(run_folder), "--steps", "150")
    assert shown.returncode == 0, shown.stderr
    assert "on 150 observations of the earlier replay (fsq, 8 groups)" in shown.stdout
    assert shares(shown.stdout) == [0.0] * 10


def test_moving_one_groups_projection_changes_that_group_only(run_folder, tmp_path):
    def push_first_group(state):  # fsq's first group is the first 3 code dims: saturate them
        state["agent"]["world_model.quantizer.proj.bias"][:3] += 100.0
    moved = edited_copy(run_folder, tmp_path, push_first_group)
    shown = command(str(run_folder), moved, "--steps", "150")
    assert shown.returncode == 0, shown.stderr
    first, *others, mean, any_group = shares(shown.stdout)
    # Every observation now gets the top class in group 0: those that had another changed.
    assert first > 0 and others == [0.0] * 7
    assert any_group == first and mean == pytest.approx(first / 8, abs=0.006)


def test_checkpoints_that_code_differently_are_refused(run_folder, tmp_path):
    def other_levels(state):
        state["config"] = state["config"].replace("levels:\n  - 5\n  - 5\n  - 5",
                                                  "levels:\n  - 7\n  - 5\n  - 5")
    other = edited_copy(run_folder, tmp_path, other_levels)
    refused = command(str(run_folder), other)
    assert refused.returncode != 0 and "the two checkpoints code differently" in refused.stderr
    assert "Traceback" not in refused.stderr


def test_a_continuous_code_and_bad_arguments_are_refused_with_the_reason(run_folder,
                                                                         tmp_path):
    smoke_run(tmp_path, "quantizer=none")
    continuous = command(str(tmp_path / "run"), str(tmp_path / "run"))
    assert continuous.returncode != 0
    assert "quantizer=none is a continuous code" in continuous.stderr
    nothing = command(str(run_folder), str(run_folder), "--steps", "0")
    assert nothing.returncode != 0 and "--steps 0 compares nothing" in nothing.stderr
    missing = command(str(run_folder), str(tmp_path / "absent"))
    assert missing.returncode != 0 and "Traceback" not in missing.stderr
