"""Ablations end to end: a real multirun grid with the parallel launcher, re-running it,
a crashed run, the report, and the submitit path."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import matplotlib.image
import pytest

ROOT = Path(__file__).resolve().parents[1]
TINY = ["preset=debug", "steps=300", "eval.every=150", "wandb.mode=disabled",
        "log.progress=false"]


def run(*args: str, cwd: Path, timeout: int = 600) -> subprocess.CompletedProcess:
    env = {**os.environ, "WANDB_SILENT": "true"}
    result = subprocess.run([sys.executable, str(ROOT / "run.py"), *args], cwd=cwd, env=env,
                            capture_output=True, text=True, timeout=timeout)
    return result


@pytest.fixture(scope="module")
def tiny_ablation(tmp_path_factory):
    cwd = tmp_path_factory.mktemp("ablation")
    tic = time.perf_counter()
    result = run("-m", *TINY, "quantizer=fsq,vq", "seed=0,1", "sweep=tiny",
                 "hydra.launcher.n_jobs=2", cwd=cwd)
    assert result.returncode == 0, result.stderr
    return cwd, cwd / "sweeps" / "tiny", time.perf_counter() - tic


def test_grid_runs_every_job_in_its_own_folder(tiny_ablation):
    _, sweep_dir, _ = tiny_ablation
    runs = sorted(p.name for p in sweep_dir.iterdir() if (p / "config.yaml").exists())
    assert len(runs) == 4
    for name in runs:
        summary = json.loads((sweep_dir / name / "summary.json").read_text())
        assert summary["steps"] == 300
        config = (sweep_dir / name / "config.yaml").read_text()
        assert "group: tiny" in config and "threads: 1" in config


def test_report_has_one_row_per_arm_finite_numbers_and_both_figures(tiny_ablation):
    cwd, sweep_dir, _ = tiny_ablation
    result = run(f"report={sweep_dir}", "wandb.mode=disabled", cwd=cwd)
    assert result.returncode == 0, result.stderr
    rows = json.loads((sweep_dir / "report.json").read_text())
    assert sorted(r["arm"] for r in rows) == ["fsq", "vq"]
    for r in rows:
        assert r["runs"] == 2
        for key in ("final_mean", "final_iqm", "auc", "perplexity_frac", "dead_codes",
                    "wall_s"):
            assert r[key] is not None and r[key] == r[key], key  # present and not NaN
        low, high = r["final_iqm_ci"]
        assert low <= r["final_iqm"] <= high
        for h in (1, 5, 15):  # the world model's open-loop errors, a second table
            for key in (f"openloop_reward_mae_h{h}", f"openloop_obs_mse_h{h}"):
                assert r[key] is not None and r[key] >= 0, key
    table = (sweep_dir / "report.md").read_text()
    assert table.count("\n| fsq |") == 2 and table.count("\n| vq |") == 2
    assert "## World model, open loop" in table and "| reward MAE h1 |" in table
    for name in ("curves.png", "codebook.png"):
        image = matplotlib.image.imread(sweep_dir / name)
        assert image.shape[0] > 100 and image.shape[1] > 100


def test_running_the_same_grid_again_skips_finished_runs(tiny_ablation):
    cwd, sweep_dir, first_wall = tiny_ablation
    before = {p: p.stat().st_mtime for p in sweep_dir.glob("*/metrics.jsonl")}
    first_launch = (sweep_dir / "multirun.yaml").read_text()
    tic = time.perf_counter()
    result = run("-m", *TINY, "quantizer=fsq,vq", "seed=0,1", "sweep=tiny",
                 "hydra.launcher.n_jobs=2", cwd=cwd)
    assert result.returncode == 0, result.stderr
    assert result.stderr.count("skipping finished run") == 4
    assert {p: p.stat().st_mtime for p in sweep_dir.glob("*/metrics.jsonl")} == before
    assert time.perf_counter() - tic < first_wall
    # the first launch's record is kept beside the second's, not overwritten
    kept = [p.read_text() for p in sweep_dir.glob("multirun-*.yaml")]
    assert first_launch in kept and (sweep_dir / "multirun.yaml").exists()


def test_report_lists_a_crashed_run_with_its_error(tmp_path):
    result = run("-m", *TINY, "env.id=tests.custom_env:Crashing-v0", "seed=0", "sweep=crash",
                 cwd=tmp_path)
    # The grid went on past the crash, and says at the end that a run did not finish.
    assert result.returncode == 1, result.stderr
    assert "1 of 1 runs did not finish" in result.stderr.strip().splitlines()[-1]
    sweep_dir = tmp_path / "sweeps" / "crash"
    result = run(f"report={sweep_dir}", "wandb.mode=disabled", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    report = (sweep_dir / "report.md").read_text()
    assert "crashed: RuntimeError: the simulator fell over" in report


def test_fairness_warning_when_runs_differ_in_more_than_the_swept_keys(tmp_path):
    result = run("-m", *TINY, "quantizer=fsq", "seed=0", "steps=200,300", "sweep=unfair",
                 cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    result = run(f"report={tmp_path / 'sweeps' / 'unfair'}", "wandb.mode=disabled",
                 cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "runs differ in `steps` (200, 300)" in result.stdout


def test_submitit_local_launcher_runs_the_same_command_line(tmp_path):
    pytest.importorskip("hydra_plugins.hydra_submitit_launcher")
    result = run("-m", *TINY, "quantizer=fsq", "seed=0", "sweep=submitit",
                 "hydra/launcher=submitit_local", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    sweep_dir = tmp_path / "sweeps" / "submitit"
    assert len(list(sweep_dir.glob("*/summary.json"))) == 1
    assert (sweep_dir / ".submitit").is_dir()


def test_the_continuous_arm_has_no_codebook_columns(tmp_path):
    result = run("-m", *TINY, "quantizer=fsq,none", "seed=0", "sweep=cont", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    sweep_dir = tmp_path / "sweeps" / "cont"
    result = run(f"report={sweep_dir}", "wandb.mode=disabled", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    rows = {r["arm"]: r for r in json.loads((sweep_dir / "report.json").read_text())}
    assert rows["none"]["perplexity_frac"] is None and rows["none"]["dead_codes"] is None
    assert 0 < rows["fsq"]["perplexity_frac"] <= 1 and rows["fsq"]["dead_codes"] >= 0


def test_report_states_and_draws_a_published_reference(tiny_ablation):
    cwd, sweep_dir, _ = tiny_ablation
    result = run(f"report={sweep_dir}", "wandb.mode=disabled", "report_reference=450",
                 "report_reference_label=DreamerV3 at 100k frames", cwd=cwd)
    assert result.returncode == 0, result.stderr
    report = (sweep_dir / "report.md").read_text()
    assert "Reference (DreamerV3 at 100k frames): 450.0, the dashed line in curves.png." in report
    assert matplotlib.image.imread(sweep_dir / "curves.png").shape[0] > 100


@pytest.mark.parametrize("args, names", [
    (["quantizer=vq"], "`quantizer=vq` does not apply to report="),  # not a filter
    (["steps=5"], "`steps=5` does not apply to report="),
    (["resume=somewhere"], "`resume=somewhere` does not apply to report="),
    (["report_reference_label=DreamerV3"], "give report_reference too"),
])
def test_report_refuses_a_setting_it_would_ignore(tiny_ablation, args, names):
    cwd, sweep_dir, _ = tiny_ablation
    before = sorted(p.name for p in sweep_dir.iterdir())
    result = run(f"report={sweep_dir}", "wandb.mode=disabled", *args, cwd=cwd)
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert names in result.stderr
    assert sorted(p.name for p in sweep_dir.iterdir()) == before


def test_with_repeated_actions_the_report_counts_env_frames(tmp_path):
    result = run("-m", *TINY, "quantizer=fsq", "seed=0", "env.action_repeat=2",
                 "sweep=frames", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    sweep_dir = tmp_path / "sweeps" / "frames"
    result = run(f"report={sweep_dir}", "wandb.mode=disabled", "report_threshold=-1000",
                 cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "| env frames to -1000 (median; reached) |" in result.stdout
    # Every return passes -1000, so the threshold is met at the first eval: step 150, the
    # 300th frame.
    (row,) = json.loads((sweep_dir / "report.json").read_text())
    assert row["steps_to_threshold"] == 300 and row["reached"] == 1


def test_a_run_saved_before_a_setting_existed_is_read_with_its_default(tiny_ablation, tmp_path):
    import shutil

    import yaml

    from agent.analysis.report import arm_labels, load_runs

    _, sweep_dir, _ = tiny_ablation
    old = tmp_path / "old"
    shutil.copytree(sweep_dir, old)
    # An fsq run as an older version saved it: no eval.greedy, no fsq rep_temperature.
    (older,) = [p for p in old.glob("*quantizer=fsq*seed=0*")]
    config = yaml.safe_load((older / "config.yaml").read_text())
    del config["eval"]["greedy"], config["quantizer"]["rep_temperature"]
    (older / "config.yaml").write_text(yaml.safe_dump(config))

    runs = load_runs(old)
    assert sorted(arm_labels(runs)) == ["fsq", "fsq", "vq", "vq"]  # not an arm of its own
    record = next(r for r in runs if r.path == older)
    assert record.config["eval.greedy"] is True
    assert record.config["quantizer.rep_temperature"] == 0.0

    # A key the schema no longer knows: the config is read as saved.
    config["retired_setting"] = 1
    (older / "config.yaml").write_text(yaml.safe_dump(config))
    record = next(r for r in load_runs(old) if r.path == older)
    assert record.config["retired_setting"] == 1 and "eval.greedy" not in record.config


def test_an_interrupted_job_resumes_only_with_the_settings_it_was_made_with(tmp_path):
    import yaml

    grid = ["-m", *TINY, "quantizer=fsq", "seed=0", "checkpoint.every=100", "sweep=cut"]
    assert run(*grid, cwd=tmp_path).returncode == 0
    (job,) = (tmp_path / "sweeps" / "cut").glob("*seed=0*")
    # Interrupted after its checkpoint at step 200, and marked as crashed.
    (job / "summary.json").unlink()
    for late in (job / "checkpoints").glob("ckpt-0000000300.*"):
        late.unlink()
    (job / "error.txt").write_text("OSError: [Errno 28] No space left on device\n")

    # The configs now give another train ratio than the run was made with: refused.
    saved = (job / "config.yaml").read_text()
    config = yaml.safe_load(saved)
    config["train"]["train_ratio"] = 128.0
    (job / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    before = (job / "metrics.jsonl").read_text()
    result = run(*grid, cwd=tmp_path)
    assert result.returncode == 1
    assert "train.train_ratio=128.0 there, 64.0 now" in result.stderr
    assert (job / "metrics.jsonl").read_text() == before and (job / "error.txt").exists()

    # The same settings, carried out otherwise (threads is left out of the folder name):
    # it resumes in its folder, and is no longer reported as crashed.
    (job / "config.yaml").write_text(saved)
    result = run(*grid, "threads=2", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "resuming interrupted run" in result.stderr
    assert json.loads((job / "summary.json").read_text())["steps"] == 300
    assert not (job / "error.txt").exists()
    (kept,) = job.glob("error-0000000200-*.txt")
    assert "No space left" in kept.read_text()
    assert run(f"report={job.parent}", "wandb.mode=disabled", cwd=tmp_path).returncode == 0
    assert "crashed" not in (job.parent / "report.md").read_text()

    # Finished, then launched again after the configs changed a default (here written
    # into its config.yaml): refused, not skipped as if it had trained what they give
    # now (its results would stand for those settings in a report).
    saved = (job / "config.yaml").read_text()
    for key, value, shown in (("train_ratio", 128.0, "train.train_ratio=128.0 there, 64.0"),
                              ("steps", 150, "steps=150 there, 300 now")):
        config = yaml.safe_load(saved)
        (config["train"] if key == "train_ratio" else config)[key] = value
        (job / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
        before = {p.name: p.read_bytes() for p in job.iterdir() if p.is_file()}
        result = run(*grid, cwd=tmp_path)
        assert result.returncode == 1
        assert "holds a finished run with other settings" in result.stderr
        assert shown in result.stderr
        assert {p.name: p.read_bytes() for p in job.iterdir() if p.is_file()} == before
    assert "python run.py resume=RUN_DIR steps=N" in result.stderr  # the longer run's way
    (job / "config.yaml").write_text(saved)
    again = run(*grid, "threads=2", cwd=tmp_path)  # how it is carried out: still skipped
    assert again.returncode == 0 and "skipping finished run" in again.stderr


def test_the_report_refuses_an_arm_that_holds_a_seed_twice(tiny_ablation, tmp_path):
    import shutil

    _, sweep_dir, _ = tiny_ablation
    twice = tmp_path / "twice"
    shutil.copytree(sweep_dir, twice)
    (fsq0,) = twice.glob("*quantizer=fsq*seed=0*")
    shutil.copytree(fsq0, twice / "quantizer=fsq,seed=0,threads=1")  # the grid run again
    (twice / "report.md").unlink(missing_ok=True)
    result = run(f"report={twice}", "wandb.mode=disabled", cwd=tmp_path)
    assert result.returncode == 1
    assert "arm `fsq` holds seed 0 2 times" in result.stderr
    assert not (twice / "report.md").exists()


def test_runs_whose_replay_kept_every_step_are_one_arm_whatever_the_capacity(tiny_ablation,
                                                                            tmp_path):
    import shutil

    import yaml

    from agent.analysis.report import arm_labels, load_runs

    _, sweep_dir, _ = tiny_ablation
    copy = tmp_path / "copy"
    shutil.copytree(sweep_dir, copy)
    (fsq0,) = copy.glob("*quantizer=fsq*seed=0*")
    config = yaml.safe_load((fsq0 / "config.yaml").read_text())
    config["replay"]["capacity"] = 467_001  # what `auto` gave on another machine
    (fsq0 / "config.yaml").write_text(yaml.safe_dump(config))
    assert sorted(arm_labels(load_runs(copy))) == ["fsq", "fsq", "vq", "vq"]
    config["replay"]["capacity"] = 100  # fewer than the run's 300 steps: it evicted
    (fsq0 / "config.yaml").write_text(yaml.safe_dump(config))
    assert sorted(arm_labels(load_runs(copy))) == [
        "fsq replay.capacity=100", "fsq replay.capacity=whole run",
        "vq replay.capacity=whole run", "vq replay.capacity=whole run"]


def test_every_run_key_is_left_out_of_job_folder_names():
    import dataclasses

    import yaml

    from agent.config import flatten, is_run_key
    from tests.helpers import compose_config

    hydra = yaml.safe_load((ROOT / "configs" / "config.yaml").read_text())["hydra"]
    excluded = set(hydra["job"]["config"]["override_dirname"]["exclude_keys"])
    run_keys = {k for k in flatten(dataclasses.asdict(compose_config())) if is_run_key(k)}
    assert run_keys - excluded == set()


def test_a_sweep_with_older_folder_names_is_picked_up(tiny_ablation, tmp_path):
    import shutil

    cwd, sweep_dir, _ = tiny_ablation
    older = tmp_path / "sweeps" / "tiny"
    shutil.copytree(sweep_dir, older)
    (fsq0,) = older.glob("*quantizer=fsq,seed=0*")
    # As Hydra named it when log.progress and threads were part of the name (sorted keys).
    name = ",".join(sorted([*fsq0.name.split(","), "log.progress=False", "threads=1"]))
    fsq0.rename(older / name)
    result = run("-m", *TINY, "quantizer=fsq,vq", "seed=0,1", "sweep=tiny",
                 "hydra.launcher.n_jobs=2", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert f"renamed {name} to {fsq0.name}" in result.stderr
    assert result.stderr.count("skipping finished run") == 4
    assert fsq0.is_dir() and not (older / name).exists()


def test_a_run_whose_metrics_cannot_be_read_is_listed_and_the_report_is_written(
        tiny_ablation, tmp_path):
    import shutil

    _, sweep_dir, _ = tiny_ablation
    damaged = tmp_path / "damaged"
    shutil.copytree(sweep_dir, damaged)
    (vq1,) = damaged.glob("*quantizer=vq*seed=1*")
    lines = (vq1 / "metrics.jsonl").read_text().splitlines(keepends=True)
    (vq1 / "metrics.jsonl").write_text("".join(lines[:2] + ['{"step": 3\n'] + lines[3:]))
    result = run(f"report={damaged}", "wandb.mode=disabled", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    report = (damaged / "report.md").read_text()
    assert f"`{vq1.name}` cannot be read: " in report and "line 3 is not a JSON event" in report
    assert report.count("\n| vq |") == 2  # the arm still has its rows (its other seed)


def test_an_arm_says_how_many_of_its_runs_it_stands_on_and_lists_the_rest(tiny_ablation,
                                                                          tmp_path):
    """A run that crashed (error.txt, as a diverged one leaves) and a job that crashed
    before its run wrote a config: the arm's statistics stand on what finished, the row
    says "k of n", and both are listed; with 2 runs an arm's interval is flagged."""
    import shutil

    _, sweep_dir, _ = tiny_ablation
    copy = tmp_path / "copy"
    shutil.copytree(sweep_dir, copy)
    (vq1,) = copy.glob("*quantizer=vq*seed=1*")
    (vq1 / "error.txt").write_text("training stopped: 3 consecutive updates non-finite\n")
    (copy / "quantizer=vq,seed=2").mkdir()
    (copy / "quantizer=vq,seed=2" / "error.txt").write_text("MemoryError: replay\n")
    result = run(f"report={copy}", "wandb.mode=disabled", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    report = (copy / "report.md").read_text()
    assert "\n| vq | 1 of 2 |" in report and "\n| fsq | 2 |" in report
    assert f"`{vq1.name}` crashed: training stopped: 3 consecutive updates" in report
    assert "`quantizer=vq,seed=2` crashed before it started: MemoryError: replay" in report
    assert "With fewer than 5 runs an arm's bootstrap interval is about the range" in report
    rows = {r["arm"]: r for r in json.loads((copy / "report.json").read_text())}
    assert (rows["vq"]["runs"], rows["vq"]["attempted"]) == (1, 2)


def test_steps_to_a_threshold_count_an_unsolved_run_as_slower_than_any_solved_one():
    from agent.analysis.report import RunRecord, arm_rows, median_unsolved_last

    def record(seed: int, solved_at: int | None) -> RunRecord:
        returns = [(500 * k, 500.0 if solved_at and 500 * k >= solved_at else 10.0)
                   for k in range(1, 9)]
        events = [{"step": s, "eval/return": r} for s, r in returns]
        return RunRecord(Path(f"s{seed}"), {"seed": seed}, events, True, None)

    once = [record(0, 1000), record(1, None), record(2, None)]
    always = [record(0, 3000), record(1, 3000), record(2, 3000)]
    rows = {r["arm"]: r for r in arm_rows({"once": once, "always": always}, 475.0)}
    assert (rows["once"]["steps_to_threshold"], rows["once"]["reached"]) == (None, 1)
    assert (rows["always"]["steps_to_threshold"], rows["always"]["reached"]) == (3000, 3)
    assert median_unsolved_last([1000, 2000, None]) == 2000
    assert median_unsolved_last([1000, None]) is None and median_unsolved_last([]) is None


def test_without_a_threshold_the_table_has_no_time_to_threshold_column():
    from agent.analysis.report import markdown

    row = {"arm": "fsq", "runs": 3, "final_mean": 1.0, "final_mean_ci": (0.5, 1.5),
           "final_iqm": 1.0, "final_iqm_ci": (0.5, 1.5), "steps_to_threshold": None,
           "reached": 0, "auc": 0.7, "perplexity_frac": 0.5, "dead_codes": 3.0,
           "wall_s": 10.0} | {f"openloop_{what}_h{h}": None for what in ("reward_mae", "obs_mse")
                              for h in (1, 5, 15)}
    for threshold, columns in ((None, 8), (450.0, 9)):
        lines = markdown([row], threshold, [], [], Path("sweep")).splitlines()
        header, rule, fsq = lines[4:7]
        assert header.count("|") == rule.count("|") == fsq.count("|") == columns + 1
        assert ("median; reached" in header) == (threshold is not None)
    assert "Threshold: (none)." in markdown([row], None, [], [], Path("sweep"))
