"""Every command that reads a run's checkpoint refuses a target without one alike
(agent/analysis/command.py): one line that names the problem, exit status 1, no traceback,
and nothing written into the folder it was given."""

import subprocess
import sys

import pytest

from tests.helpers import ROOT

MODULES = ["reward_check", "continue_check", "policy_check", "state_probe", "loss_grads",
           "survival_check", "breakout_check", "freeway_check", "board_check",
           "model_by_age"]
COMMANDS = ([["-m", f"agent.analysis.{name}"] for name in MODULES]
            + [["-m", "agent.analysis.replay_obs", "--keys=obs:0"],
               ["benchmarks/cartpole_edges.py"], ["benchmarks/model_updates.py"]])


@pytest.mark.parametrize("command", COMMANDS, ids=lambda command: command[-1])
def test_a_folder_without_a_checkpoint_is_a_one_line_error(command, tmp_path):
    folder = tmp_path / "run"
    folder.mkdir()
    (folder / "config.yaml").write_text("seed: 0\n")  # a run stopped before its first
    result = subprocess.run([sys.executable, *command, str(folder)], cwd=ROOT,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    assert result.stderr.strip() == (f"error: {folder} is a run folder with no valid "
                                     f"checkpoint (none written yet, or each is damaged)")
    assert [p.name for p in folder.iterdir()] == ["config.yaml"]
