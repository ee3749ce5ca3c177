"""How far a run's code moved between two checkpoints (agent/analysis/code_drift.py), on
real run folders: a checkpoint against itself, against a copy whose first group was moved,
and the refusals."""

from functools import partial

import pytest
import torch
import yaml
from gymnasium.spaces import Box, Dict

from agent.analysis.code_drift import replayed_obs
from agent.loop import checkpoint
from agent.loop.replay import Replay
from envs import ObservationSpec
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


def edit_config(state, change) -> None:
    config = yaml.safe_load(state["config"])
    change(config)
    state["config"] = yaml.safe_dump(config)


@pytest.mark.parametrize("adds", [30, 80])  # 50 steps kept per stream: not wrapped, wrapped
def test_observations_are_drawn_from_the_steps_a_saved_replay_holds_without_repeats(adds):
    replay = Replay(100, 2, ObservationSpec(Dict({"step": Box(0, 1e6, (1,))})), 1)
    for s in range(adds):
        replay.add({"step": torch.tensor([[float(s)], [1000.0 + s]])}, torch.zeros(2, 1),
                   torch.zeros(2), torch.zeros(2), torch.ones(2))
    held = range(max(0, adds - 50), adds)
    drawn = replayed_obs(replay.state_dict(), 1000, seed=0)["step"][:, 0].tolist()
    assert sorted(drawn) == [*map(float, held), *(1000.0 + s for s in held)]
    some = replayed_obs(replay.state_dict(), 10, seed=1)["step"][:, 0].tolist()
    assert len(set(some)) == 10 and set(some) <= set(drawn)


def test_a_checkpoint_against_itself_has_not_moved(run_folder):
    shown = command(str(run_folder), str(run_folder), "--steps", "150")
    assert shown.returncode == 0, shown.stderr
    assert "on 150 observations of the earlier replay (fsq, 8 groups)" in shown.stdout
    assert shares(shown.stdout) == [0.0] * 10


@pytest.mark.parametrize("quantizer", ["categorical", "vq"])
def test_a_sampled_or_codebook_code_against_itself_has_not_moved(quantizer, tmp_path):
    # Each group's class is the posterior's mode, not a sample (categorical), and encoding
    # does not update the codebook between the two passes (vq's EMA and restarts).
    smoke_run(tmp_path, f"quantizer={quantizer}")
    shown = command(str(tmp_path / "run"), str(tmp_path / "run"))
    assert shown.returncode == 0, shown.stderr
    assert f"({quantizer}, " in shown.stdout
    assert set(shares(shown.stdout)) == {0.0}


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


@pytest.mark.parametrize("change, named", [
    (lambda config: config["quantizer"].update(levels=[7, 5, 5]), "quantizer.levels"),
    (lambda config: config.update(seed=1), "seed")], ids=["levels", "seed"])
def test_checkpoints_of_different_runs_are_refused_naming_what_differs(run_folder, tmp_path,
                                                                        change, named):
    other = edited_copy(run_folder, tmp_path, lambda state: edit_config(state, change))
    refused = command(str(run_folder), other)
    assert refused.returncode != 0
    assert f"come from different runs ({named} differ)" in refused.stderr
    assert "Traceback" not in refused.stderr


def test_checkpoints_given_in_the_wrong_order_are_refused(run_folder, tmp_path):
    def earlier(state):
        state["env_steps"] = 100
    older = edited_copy(run_folder, tmp_path, earlier)
    refused = command(str(run_folder), older)
    assert refused.returncode != 0 and "swap the two" in refused.stderr


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
    assert f"{tmp_path / 'absent'} is neither a checkpoint file" in missing.stderr
