"""Every analysis command that reads a checkpoint refuses a target without one the same way
(agent/analysis/command.py): one line that names the problem, no traceback, and nothing
written into the folder it was given."""

import pytest

from tests.helpers import run_module

COMMANDS = ["reward_check", "policy_check", "continue_check", "state_probe", "loss_grads",
            "survival_check", "breakout_check", "freeway_check", "board_check"]


@pytest.mark.parametrize("name", COMMANDS)
def test_a_folder_without_a_checkpoint_is_a_one_line_error(tmp_path, name):
    folder = tmp_path / "run"
    folder.mkdir()
    (folder / "config.yaml").write_text("seed: 0\n")  # a run folder stopped before its first
    refused = run_module(f"agent.analysis.{name}", str(folder))
    assert refused.returncode == 2, refused.stderr
    assert "Traceback" not in refused.stderr
    assert refused.stderr.strip().splitlines()[-1].startswith(f"{name}.py: error: ")
    assert "checkpoint" in refused.stderr.strip().splitlines()[-1]
    assert [p.name for p in folder.iterdir()] == ["config.yaml"]
