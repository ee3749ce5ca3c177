"""The benchmark scripts run end to end: the GPU script anywhere (on the CPU when no GPU is
visible), the DMC script with tiny settings; each writes its table and JSON."""

import dataclasses
import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from agent.config import flatten, unflatten

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))


def trained(overrides: list[str]) -> dict:
    """The settings a run with these overrides trains, flattened, as a suite result keeps
    them beside each run (what `--show` sorts runs into arms by)."""
    from common import load_config

    return flatten(dataclasses.asdict(load_config(overrides)))


def saved_run(suite: str, task: str, seed: int = 0, common: tuple[str, ...] = (),
              trains: tuple[str, ...] = (), **fields) -> dict:
    """A run as a suite benchmark saves it: its overrides (the benchmark's per-run ones,
    then `common`) and the settings it trained (`trains` added: a default of its day)."""
    task_key = "env.game" if suite == "minatar" else "env.task"
    overrides = [f"env={suite}", f"{task_key}={task}", f"seed={seed}", *common]
    return {"task": task, "seed": seed, "overrides": overrides,
            "settings": trained([*overrides, *trains]), **fields}


def test_gpu_script_measures_every_precision_and_compile_mode_and_pixels(tmp_path):
    env = dict(os.environ, QUICK="1", OUT=str(tmp_path), PYTHON=sys.executable,
               CUDA_VISIBLE_DEVICES="")
    subprocess.run(["bash", str(ROOT / "benchmarks/gpu.sh")], check=True, env=env,
                   timeout=600, cwd=tmp_path)
    result = json.loads((tmp_path / "gpu.json").read_text())
    modes = {(r["precision"], r["compile"]) for r in result["rows"]}  # compile: what ran
    assert modes == {("fp32", False), ("fp32", True), ("bf16", False), ("bf16", True)}
    for r in result["rows"]:
        assert math.isfinite(r["update_s"]) and r["update_s"] > 0
        assert r["world_model_flops"] > 0 and r["imagination_ac_flops"] > 0
    (training,) = result["training"]  # real training: env steps and updates both advanced
    assert training["env_steps_per_s"] > 0 and training["updates_per_s"] > 0
    (pixels,) = json.loads((tmp_path / "gpu-pixels.json").read_text())["rows"]
    assert pixels["obs"] == "pixels" and math.isfinite(pixels["update_s"])
    assert pixels["world_model_flops"] > result["rows"][0]["world_model_flops"]  # the convnets
    table = (tmp_path / "gpu.md").read_text()
    assert table.count("| cpu (vector") == 4 and table.count("| cpu (pixels") == 1


def test_dmc_benchmark_runs_end_to_end_and_shows_its_table(tmp_path):
    pytest.importorskip("shimmy", reason="the dmc extra is not installed")
    out = tmp_path / "dmc.json"
    script = str(ROOT / "benchmarks/dmc.py")
    subprocess.run([sys.executable, script, "--tasks", "walker_walk", "--seeds", "0",
                    "--frames", "400", "--eval-every-frames", "200", "--out", str(out),
                    "preset=debug", "threads=1"], check=True, timeout=600, cwd=tmp_path)
    (run,) = json.loads(out.read_text())["runs"]
    assert [frames for frames, _ in run["curve"]] == [200, 400]  # 100 agent steps = 200 frames
    assert math.isfinite(run["final_return"])
    shown = subprocess.run([sys.executable, script, "--show", str(out)], check=True,
                           capture_output=True, text=True).stdout
    assert "| walker_walk | 1 |" in shown and "400 env frames" in shown


def test_the_quantizer_benchmark_extends_a_shorter_sweep_by_resuming_copies(tmp_path):
    """--extend copies each finished run of a shorter sweep and resumes the copy to the
    longer budget: the copy trains on from the source's checkpoint, and the source stays
    as it was."""
    script = str(ROOT / "benchmarks/quantizers.py")
    short, longer = tmp_path / "short", tmp_path / "longer"
    base = ["--quantizers", "fsq", "--seeds", "0"]
    # the default capacity (`auto`) is saved as the number it chose: still the same run
    tiny = ["preset=debug", "threads=1", "replay.capacity=auto"]
    subprocess.run([sys.executable, script, *base, "--steps", "300", "--out",
                    str(short / "q.json"), *tiny], check=True,
                   timeout=600, cwd=tmp_path, capture_output=True)
    (source,) = [p.parent for p in short.glob("*/summary.json")]
    before = (source / "metrics.jsonl").read_text()
    subprocess.run([sys.executable, script, *base, "--steps", "600", "--extend", str(short),
                    "--out", str(longer / "q.json"), *tiny],
                   check=True, timeout=600, cwd=tmp_path, capture_output=True)
    (row,) = json.loads((longer / "q.json").read_text())["runs"]
    assert "error" not in row
    extended = Path(row["run_dir"])
    assert json.loads((extended / "summary.json").read_text())["steps"] == 600
    evals = [e["step"] for e in map(json.loads, (extended / "metrics.jsonl").open())
             if "eval/return" in e]
    assert evals == [300, 500, 600]  # the source's final eval, then the extension's
    kept = (extended / "metrics.jsonl").read_text()
    assert kept.startswith(before)  # the first 300 steps are the source's, continued
    assert (source / "metrics.jsonl").read_text() == before
    assert json.loads((source / "summary.json").read_text())["steps"] == 300


def test_dmc_benchmark_compares_with_dreamerv3_at_the_same_frames():
    import dmc

    summary = dmc.summarise([{"task": "walker_walk", "final_return": 600.0, "wall_s": 1.0}],
                            ["walker_walk", "cheetah_run"], 100_000)
    assert summary["walker_walk"]["dreamerv3"] == 518 and summary["walker_walk"]["mean"] == 600
    assert summary["cheetah_run"]["dreamerv3"] == 317 and summary["cheetah_run"]["mean"] is None
    assert dmc.mean_over(summary, "dreamerv3") == (518 + 317) / 2
    assert dmc.mean_over(summary, "mean") is None  # a task without runs: no mean over tasks


def test_dmc_results_made_one_task_at_a_time_show_as_one_table(tmp_path):
    def saved(task: str, final: float, frames: int = 100_000) -> Path:
        path = tmp_path / f"{task}-{frames}.json"
        run = saved_run("dmc", task, final_return=final, wall_s=10.0)
        path.write_text(json.dumps({"frames": frames, "action_repeat": 2, "eval_episodes": 10,
                                    "runs": [run], "summary": {}}))
        return path

    script = str(ROOT / "benchmarks/dmc.py")
    shown = subprocess.run([sys.executable, script, "--show", str(saved("walker_walk", 300.0)),
                            str(saved("cartpole_swingup", 100.0))],
                           check=True, capture_output=True, text=True).stdout
    rows = [line for line in shown.splitlines() if line.startswith("| ")]
    assert rows[1].startswith("| cartpole_swingup | 1 | 100.0")  # the benchmark's task order
    assert rows[2].startswith("| walker_walk | 1 | 300.0")
    assert "**200.0**" in rows[3] and "**509**" in rows[3]  # means over both: ours, DreamerV3
    mixed = subprocess.run([sys.executable, script, "--show", str(saved("walker_walk", 1.0)),
                            str(saved("cartpole_swingup", 1.0, frames=50_000))],
                           capture_output=True, text=True)
    assert mixed.returncode != 0 and "different budgets" in mixed.stderr
    # A file that two globs both name is one run; the same run in two files is refused.
    walker = saved("walker_walk", 300.0)
    twice = subprocess.run([sys.executable, script, "--show", str(walker),
                            str(tmp_path / ".." / tmp_path.name / walker.name)],
                           check=True, capture_output=True, text=True).stdout
    assert "| walker_walk | 1 | 300.0" in twice
    copy = tmp_path / "record" / "benchmark.json"
    copy.parent.mkdir()
    copy.write_text(walker.read_text())
    copied = subprocess.run([sys.executable, script, "--show", str(walker), str(copy)],
                            capture_output=True, text=True)
    assert copied.returncode != 0
    assert "walker_walk seed 0 is in both" in copied.stderr and "two seeds" in copied.stderr


def test_minatar_benchmark_runs_end_to_end_beside_dqn(tmp_path):
    pytest.importorskip("minatar", reason="the minatar extra is not installed")
    out = tmp_path / "minatar.json"
    script = str(ROOT / "benchmarks/minatar_suite.py")
    subprocess.run([sys.executable, script, "--games", "breakout", "--steps", "200",
                    "--eval-every", "100", "--out", str(out), "preset=debug", "threads=1"],
                   check=True, timeout=600, cwd=tmp_path)
    report = json.loads(out.read_text())
    (run,) = report["runs"]
    assert [frames for frames, _ in run["curve"]] == [100, 200]
    assert math.isfinite(run["final_return"]) and math.isfinite(run["final_train_return"])
    assert report["summary"]["breakout"]["dqn"] == {"100000": 4, "1000000": 9}
    shown = subprocess.run([sys.executable, script, "--show", str(out)], check=True,
                           capture_output=True, text=True).stdout
    assert "| breakout | 1 |" in shown and "| 4.0 | 9.0 |" in shown


def test_a_suite_benchmark_again_rereads_finished_runs_and_resumes_interrupted_ones(tmp_path):
    pytest.importorskip("minatar", reason="the minatar extra is not installed")
    out = tmp_path / "minatar.json"
    command = [sys.executable, str(ROOT / "benchmarks/minatar_suite.py"), "--games", "breakout",
               "--steps", "200", "--eval-every", "100", "--out", str(out), "preset=debug",
               "threads=1", "checkpoint.every=100", "train.model_opt.lr=2e-4"]
    subprocess.run(command, check=True, timeout=600, cwd=tmp_path)
    run_dir = tmp_path / "minatar-runs" / "breakout-s0"
    (first,) = json.loads(out.read_text())["runs"]
    assert first["run_dir"] == str(run_dir)
    metrics = (run_dir / "metrics.jsonl").read_text()

    reread = subprocess.run(command, check=True, timeout=600, cwd=tmp_path,
                            capture_output=True, text=True)
    assert "skipping finished run" in reread.stderr
    assert (run_dir / "metrics.jsonl").read_text() == metrics  # not trained again
    assert json.loads(out.read_text())["runs"][0]["curve"] == first["curve"]

    # Interrupted after the checkpoint at 100 env steps: it continues from there, exactly.
    (run_dir / "summary.json").unlink()
    for path in (run_dir / "checkpoints").glob("ckpt-0000000200.*"):
        path.unlink()
    resumed = subprocess.run(command, check=True, timeout=600, cwd=tmp_path,
                             capture_output=True, text=True)
    assert "resuming interrupted run" in resumed.stderr
    assert json.loads(out.read_text())["runs"][0]["curve"] == first["curve"]

    # Other settings, given or left out, stop it before anything trains.
    metrics = (run_dir / "metrics.jsonl").read_text()
    for changed in ([*command, "train.train_ratio=32"], [*command, "quantizer=fsq"],
                    [c for c in command if c != "train.model_opt.lr=2e-4"]):
        other = subprocess.run(changed, timeout=600, cwd=tmp_path, capture_output=True,
                               text=True)
        assert other.returncode != 0 and "holds a run with other settings" in other.stderr
        assert "another --out" in other.stderr
    assert "train.model_opt.lr: 0.0002 there, 0.0003 asked" in other.stderr  # the default
    assert (run_dir / "metrics.jsonl").read_text() == metrics

    # More steps than the finished run has: it trains on from its end.
    longer = [*command[:5], "300", *command[6:]]
    subprocess.run(longer, check=True, timeout=600, cwd=tmp_path, capture_output=True)
    (run,) = json.loads(out.read_text())["runs"]
    assert [frames for frames, _ in run["curve"]] == [100, 200, 300]
    assert run["curve"][:2] == first["curve"]

    # Stopped before its first checkpoint, then asked for more steps: nothing to resume,
    # so the folder is set aside (kept) and the run starts again.
    (run_dir / "summary.json").unlink()
    shutil.rmtree(run_dir / "checkpoints")
    again = [*command[:5], "400", *command[6:]]
    restarted = subprocess.run(again, timeout=600, cwd=tmp_path, capture_output=True,
                               text=True)
    assert restarted.returncode == 0, restarted.stderr
    assert "restarting unfinished run" in restarted.stderr
    (run,) = json.loads(out.read_text())["runs"]
    assert [frames for frames, _ in run["curve"]] == [100, 200, 300, 400]
    (kept,) = [p for p in run_dir.parent.iterdir() if ".unfinished-" in p.name]
    assert (kept / "config.yaml").exists()

def test_minatar_benchmark_counts_the_games_at_dqns_figures(tmp_path):
    def saved(game: str, final: float) -> Path:
        path = tmp_path / f"{game}.json"
        run = saved_run("minatar", game, final_return=final, final_train_return=0.0,
                        wall_s=1.0)
        # breakout's result carries the random policy's return it measured: reused as is
        summary = {game: {"random": 0.123}} if game == "breakout" else {}
        path.write_text(json.dumps({"frames": 100_000, "eval_episodes": 10, "runs": [run],
                                    "summary": summary}))
        return path

    # DQN: breakout 4 (100k) and 9 (1M); seaquest 0.5 and 1; asterix 0.7 and 12
    script = str(ROOT / "benchmarks/minatar_suite.py")
    shown = subprocess.run([sys.executable, script, "--show", str(saved("seaquest", 1.0)),
                            str(saved("breakout", 5.0)), str(saved("asterix", 0.5))],
                           check=True, capture_output=True, text=True).stdout
    rows = [line for line in shown.splitlines() if line.startswith("| ")][1:]
    assert [row.split(" | ")[0] for row in rows] == ["| breakout", "| asterix", "| seaquest"]
    # eval / training: the training return (0.0) reaches no DQN figure
    assert "| yes / no | no / no |" in rows[0] and "| no / no | no / no |" in rows[1]
    assert "| yes / no | ≈yes / no |" in rows[2]  # 1.0 is DQN's 1M figure, read to ±10%
    assert ("eval return (median over seeds) at least DQN's 100k figure on 2 of 3 games, at "
            "least its 1M figure on 1") in shown
    assert "training return (median over seeds) at least DQN's 100k figure on 0 of 3" in shown
    assert rows[0].split(" | ")[5] == "0.12"  # the saved random return
    measured = [float(row.split(" | ")[5]) for row in rows[1:]]  # the others measured now
    assert all(0.0 <= value < 2.0 for value in measured)  # random play scores little here


def show_seaquest_seeds(tmp_path, seeds: list[tuple[float, float]]) -> str:
    """The suite's --show table of Seaquest runs with these (final eval, training) returns."""
    paths = []
    for seed, (final, train) in enumerate(seeds):
        path = tmp_path / f"seaquest-s{seed}.json"
        run = saved_run("minatar", "seaquest", seed, final_return=final,
                        final_train_return=train, wall_s=1.0)
        path.write_text(json.dumps({"frames": 100_000, "eval_episodes": 10, "runs": [run],
                                    "summary": {"seaquest": {"random": 0.08}}}))
        paths.append(str(path))
    return subprocess.run([sys.executable, str(ROOT / "benchmarks/minatar_suite.py"),
                           "--show", *paths], check=True, capture_output=True, text=True).stdout


def test_minatar_benchmark_judges_each_game_by_its_median_seed(tmp_path):
    """Seaquest seeds trained to 1.06, 0.78 and 1.02: their mean (0.95) is under DQN's 1M
    figure (1.0), their median is not; the table shows both and counts the median, marked
    as within the ±10% to which DQN's figure was read."""
    shown = show_seaquest_seeds(tmp_path, [(1.6, 1.06), (0.8, 0.78), (0.8, 1.02)])
    (row,) = [line for line in shown.splitlines() if line.startswith("| seaquest")]
    # eval mean ± std | training mean | medians | random | DQN 100k, 1M | at 100k | at 1M
    assert row.startswith("| seaquest | 3 | 1.1 ± 0.4 | 0.95 | 0.8 / 1.02 | 0.08 | 0.5 | 1.0 "
                          "| yes / yes | no / ≈yes |"), row
    lines = shown.splitlines()
    assert lines[-2] == ("Our training return (median over seeds) at least DQN's 100k figure "
                         "on 1 of 1 games, at least its 1M figure on 1.")
    assert lines[-1].startswith("≈: within ±10% of DQN's figure")


def test_the_median_of_an_even_count_of_seeds_is_the_mean_of_the_middle_two(tmp_path):
    shown = show_seaquest_seeds(tmp_path, [(0.2, 0.5), (1.4, 0.9), (0.6, 1.3), (1.0, 2.0)])
    (row,) = [line for line in shown.splitlines() if line.startswith("| seaquest")]
    assert "| 0.8 / 1.10 |" in row, row  # (0.6 + 1.0) / 2 and (0.9 + 1.3) / 2


def test_saved_results_of_other_arms_show_as_tables_of_their_own_never_as_more_seeds(
        tmp_path):
    ratio = "train.train_ratio=64"

    def saved(name: str, seed: int, final: float, common: list[str],
              trains: tuple[str, ...] = ()) -> Path:
        path = tmp_path / f"{name}.json"
        run = saved_run("minatar", "breakout", seed, tuple(common), trains,
                        final_return=final, final_train_return=1.0, wall_s=1.0)
        path.write_text(json.dumps({"frames": 100_000, "eval_episodes": 10, "runs": [run],
                                    "overrides": common,
                                    "summary": {"breakout": {"random": 0.4}}}))
        return path

    results = [
        # saved when MinAtar's default quantizer was fsq: no override names it
        saved("old-s0", 0, 3.0, [ratio, "threads=1"], trains=("quantizer=fsq",)),
        saved("new-s0", 0, 6.0, [ratio]),  # today's default: the categorical code
        saved("old-s1", 1, 5.0, [ratio, "quantizer=fsq"]),  # fsq named this time
        # the default named: the same arm as new-s0; wandb: how it ran, not what it trained
        saved("new-s1", 1, 4.0, ["quantizer=categorical", ratio, "wandb.mode=disabled"])]
    script = str(ROOT / "benchmarks/minatar_suite.py")
    shown = subprocess.run([sys.executable, script, "--show", *map(str, results)],
                           check=True, capture_output=True, text=True).stdout
    arms = shown.split("## arm: ")[1:]
    assert [arm.splitlines()[0] for arm in arms] == [f"quantizer=fsq {ratio}", ratio]
    rows = [[line for line in arm.splitlines() if line.startswith("| breakout")] for arm in arms]
    assert rows[0][0].startswith("| breakout | 2 | 4.0 ± 1.0 |")  # seeds 3.0 and 5.0
    assert rows[1][0].startswith("| breakout | 2 | 5.0 ± 1.0 |")  # seeds 6.0 and 4.0

    import common
    import minatar_suite

    with pytest.raises(SystemExit, match="different arms"):
        minatar_suite.merge(common.load_results(results[:2]))

    # A record saved before results kept settings: its config.yaml beside it tells.
    record = tmp_path / "record"
    record.mkdir()
    report = json.loads(results[0].read_text())
    settings = report["runs"][0].pop("settings")
    (record / "benchmark.json").write_text(json.dumps(report))
    (report_arm,) = {run["arm"] for run in common.load_results([results[0]])[0]["runs"]}
    with pytest.raises(SystemExit, match="cannot tell what breakout seed 0 trained"):
        common.load_results([record / "benchmark.json"])
    # the run's config.yaml: nested, lists as lists
    (record / "config.yaml").write_text(yaml.safe_dump(unflatten(settings)))
    (run,) = common.load_results([record / "benchmark.json"])[0]["runs"]
    assert run["arm"] == report_arm  # read from config.yaml: the same arm as from settings
    # A replay that evicted steps trained otherwise: its own arm, though `auto` is today's.
    evicting = saved_run("minatar", "breakout", 0, ("steps=5000",), ("replay.capacity=1000",))
    kept_all = saved_run("minatar", "breakout", 0, ("steps=5000",), ("replay.capacity=9000",))
    arm_of_run = [common.run_arm(r, {"overrides": [], "runs": [r]}, record / "x.json")
                  for r in (evicting, kept_all)]
    assert arm_of_run == [(("replay.capacity", 1000),), ()]
    assert dict(run["arm"])["quantizer.name"] == "fsq"
    assert dict(run["arm"])["train.train_ratio"] == 64.0
    # A result saved before a setting existed ran with its default: no arm of its own.
    older = saved_run("minatar", "breakout", 0, (ratio,))
    del older["settings"]["train.model_opt.warmup"]
    newer = saved_run("minatar", "breakout", 0, (ratio,))
    arms = [common.run_arm(r, {"overrides": [ratio], "runs": [r]}, record / "x.json")
            for r in (older, newer)]
    assert arms[0] == arms[1] == (("train.train_ratio", 64.0),)


def test_an_arm_of_another_model_size_is_named_by_its_size_preset():
    """A run at `size=xs` differs from today's defaults in the model's widths; its arm
    reads as the preset that trains them, and a width no preset has reads as itself."""
    from common import arm_label

    xs = (("model.deter", 256), ("model.units", 256))
    assert arm_label(xs) == "size=xs"
    assert arm_label((*xs, ("quantizer.name", "fsq"))) == "quantizer=fsq size=xs"
    assert arm_label((("model.deter", 256),)) == "model.deter=256"  # units stayed 128
    assert arm_label((*xs, ("model.layers", 3))) == "model.deter=256 model.units=256 model.layers=3"


def test_an_arm_with_a_presets_settings_is_named_by_the_preset():
    from common import arm_label

    small = (("model.cnn_min_res", 4), ("model.image_decoder_start", "mean_frame"),
             ("model.image_likelihood", "bernoulli"))
    ratio = ("train.train_ratio", 128.0)
    assert arm_label((*small, ratio)) == "preset=small_objects train.train_ratio=128"
    assert arm_label((*small[1:], ratio)) == (  # one of the three left at its default
        "model.image_decoder_start=mean_frame model.image_likelihood=bernoulli "
        "train.train_ratio=128")
    xs = (("model.deter", 256), ("model.units", 256))
    assert arm_label((*small, *xs)) == "size=xs preset=small_objects"
    # what a preset trains, not how it runs: debug's log.every is not asked of an arm
    debug = {"ac.horizon": 5, "eval.episodes": 2, "eval.every": 200, "model.deter": 32,
             "model.layers": 1, "model.reward_bins": 31, "model.units": 32, "steps": 400,
             "train.batch_size": 4, "train.prefill": 100, "train.seq_len": 16,
             "train.train_ratio": 64.0}
    assert arm_label(tuple(debug.items())) == "preset=debug"


def test_several_arms_are_set_side_by_side_with_their_medians_and_counts(tmp_path):
    """After each arm's table, one table with a column per arm: each game's median training
    return / median eval (seeds), and on how many of its games each arm's training median
    reaches DQN's figures; the arms' settings are listed under it."""
    def saved(game: str, seed: int, ratio: int, final: float, train: float) -> str:
        path = tmp_path / f"{game}-r{ratio}-s{seed}.json"
        common = [f"train.train_ratio={ratio}"]
        run = saved_run("minatar", game, seed, tuple(common), final_return=final,
                        final_train_return=train, wall_s=1.0)
        path.write_text(json.dumps({"frames": 100_000, "eval_episodes": 10, "runs": [run],
                                    "overrides": common,
                                    "summary": {game: {"random": 0.1}}}))
        return str(path)

    # DQN: seaquest 0.5 (100k) and 1 (1M); space_invaders 5 and 30
    paths = [saved("seaquest", 0, 128, 1.6, 1.06), saved("seaquest", 1, 128, 0.8, 0.78),
             saved("seaquest", 2, 128, 0.8, 1.02), saved("space_invaders", 0, 128, 28.6, 23.5),
             saved("seaquest", 0, 64, 0.7, 0.4)]
    shown = subprocess.run([sys.executable, str(ROOT / "benchmarks/minatar_suite.py"),
                            "--show", *paths], check=True, capture_output=True,
                           text=True).stdout
    side = shown.split("## The arms side by side")[1].splitlines()
    rows = [line for line in side if line.startswith("| ")]
    assert rows[0] == "| game | A1 | A2 | DQN 100k / 1M |"
    assert rows[1] == "| seaquest | 1.02 / 0.8 (3) | 0.40 / 0.7 (1) | 0.5 / 1.0 |"
    assert rows[2] == "| space_invaders | 23.50 / 28.6 (1) | not run | 5.0 / 30.0 |"
    assert rows[3] == "| training ≥ DQN 100k: games of those run | 2 of 2 | 0 of 1 | |"
    assert rows[4] == "| training ≥ DQN 1M: games of those run | 1 of 2 | 0 of 1 | |"
    assert side[-2:] == ["A1: train.train_ratio=128", "A2: train.train_ratio=64"]
    one_arm = subprocess.run([sys.executable, str(ROOT / "benchmarks/minatar_suite.py"),
                              "--show", *paths[:3]], check=True, capture_output=True,
                             text=True).stdout
    assert "side by side" not in one_arm


def test_a_random_policy_scores_what_random_play_scores_in_the_real_env():
    """CartPole pays 1 per step: a random policy's returns are its episode lengths, which
    are short (a pole falls in about 20 steps when pushed at random) and vary."""
    from random_policy import baseline_returns

    returns = baseline_returns(["env=cartpole"], episodes=30)
    assert all(r == int(r) and 8 <= r < 200 for r in returns)
    assert 12 < sum(returns) / len(returns) < 40 and len(set(returns)) > 5
    assert baseline_returns(["env=cartpole"], episodes=30) == returns  # seeded


def test_a_fixed_action_is_played_at_every_step_and_must_be_an_action_of_the_env():
    """Pushing CartPole's cart left at every step tips the pole within a dozen steps, far
    sooner than random pushes do; an action outside the space stops with its name."""
    from random_policy import baseline_returns

    left = baseline_returns(["env=cartpole"], episodes=10, action=0)
    assert all(8 <= r <= 12 for r in left)
    assert sum(left) / 10 < sum(baseline_returns(["env=cartpole"], episodes=10)) / 10
    with pytest.raises(SystemExit, match="--action 2 is not an action of CartPole-v1"):
        baseline_returns(["env=cartpole"], episodes=1, action=2)


def test_learning_summary_says_how_often_a_solution_held_after_the_first_success():
    from common import learning_summary

    returns = [20.0, 480.0, 500.0, 300.0, 475.0, 490.0]
    events = [{"step": 500 * (i + 1), "eval/return": r} for i, r in enumerate(returns)]
    events.insert(2, {"step": 1_100, "train/return": 9.0})  # not an evaluation: ignored
    summary = learning_summary(events, threshold=475.0)
    assert summary["solve_step"] == 1_000
    assert summary["held_fraction"] == 3 / 4  # 500, 475, 490 of the four after
    once_only = learning_summary(events, threshold=495.0)  # reached at the 3rd eval only
    assert once_only["solve_step"] == 1_500 and once_only["held_fraction"] == 0.0
    never = learning_summary(events, threshold=600.0)
    assert never["solve_step"] is None and never["held_fraction"] is None


def test_env_targets_trains_in_a_folder_per_task_and_seed_and_reports_the_threshold(tmp_path):
    out = tmp_path / "targets.json"
    shown = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks/env_targets.py"), "--tasks", "memory",
         "--seeds", "0", "--out", str(out), "preset=debug", "steps=200", "eval.every=100",
         "threads=1"], check=True, timeout=600, cwd=tmp_path, capture_output=True,
        text=True).stdout
    (run,) = json.loads(out.read_text())["tasks"]["memory"]["runs"]
    assert run["run_dir"] == str(tmp_path / "targets-runs" / "memory-s0")
    assert [step for step, _ in run["curve"]] == [100, 200]
    assert run["final_return"] == run["curve"][-1][1]
    assert "| seed | env steps to threshold | later evals ≥ threshold |" in shown
    assert "memory: 200 env steps" in shown  # the steps given, not the task's 10,000
    assert json.loads(out.read_text())["tasks"]["memory"]["steps"] == 200
    again = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks/env_targets.py"), "--tasks", "memory",
         "--seeds", "0", "--out", str(out), "preset=debug", "steps=200", "eval.every=100",
         "threads=1"], check=True, timeout=600, cwd=tmp_path, capture_output=True, text=True)
    assert "skipping finished run" in again.stderr  # its own overrides, the last one winning
    assert json.loads(out.read_text())["tasks"]["memory"]["runs"][0]["curve"] == run["curve"]


def test_a_suite_table_says_how_its_evaluations_acted_and_never_mixes_the_two(tmp_path):
    def saved(game: str, greedy: bool | None) -> str:
        path = tmp_path / f"{game}-{greedy}.json"
        run = saved_run("minatar", game, final_return=1.0, final_train_return=1.0,
                        wall_s=1.0)
        report = {"frames": 100_000, "eval_episodes": 10, "runs": [run], "summary": {}}
        if greedy is not None:  # a result saved before eval.greedy existed has no key
            report["eval_greedy"] = greedy
        path.write_text(json.dumps(report))
        return str(path)

    script = str(ROOT / "benchmarks/minatar_suite.py")

    def show(*paths: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, script, "--show", *paths],
                              capture_output=True, text=True)

    assert "our final sampled eval over 10 episodes" in show(saved("breakout", False)).stdout
    old_and_new = show(saved("breakout", None), saved("asterix", True))
    assert "our final greedy eval over 10 episodes" in old_and_new.stdout
    mixed = show(saved("breakout", True), saved("asterix", False))
    assert mixed.returncode != 0 and "different budgets" in mixed.stderr


def test_pixel_signal_shows_a_larger_tilt_as_a_larger_pixel_difference():
    from pixel_signal import TILTS, difference, renderer

    render = renderer(64)
    upright = render(0.0, 0.0)
    assert upright.shape == (3, 64, 64) and 0.0 <= upright.min() and upright.max() <= 1.0
    assert difference(upright, upright) == {"sum_sq": 0.0, "pixels": 0}
    tilts = [difference(render(0.0, t), upright)["sum_sq"] for t in TILTS]
    assert all(a < b for a, b in zip(tilts[:-1], tilts[1:], strict=True)) and tilts[0] > 0
    # what the agent stores: whole uint8 pixel values
    assert np.allclose(upright * 255, np.round(upright * 255))


def test_a_benchmark_run_saved_before_a_setting_existed_holds_the_same_settings(tmp_path):
    import dataclasses

    import yaml
    from common import load_config, settings_not_held

    overrides = ["quantizer=fsq", "steps=500"]
    saved = dataclasses.asdict(load_config(overrides))
    del saved["eval"]["greedy"], saved["quantizer"]["rep_temperature"]  # an older run's file
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(saved))
    assert settings_not_held(tmp_path, overrides) == {}
    assert settings_not_held(tmp_path, [*overrides, "quantizer.rep_temperature=0.5"]) == {
        "quantizer.rep_temperature": (0.0, 0.5)}


def test_model_updates_trains_a_checkpoints_world_model_and_scores_the_same_windows(tmp_path):
    from tests.helpers import smoke_run

    smoke_run(tmp_path)  # a real 200-step CartPole run, its checkpoint at the end
    script = str(ROOT / "benchmarks/model_updates.py")
    result = subprocess.run([sys.executable, script, str(tmp_path / "run"), "--updates", "2",
                             "--every", "1", "--draws", "2"], cwd=ROOT, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    rows = [[c.strip() for c in line.strip("|").split("|")]
            for line in result.stdout.splitlines() if line.startswith("| ")]
    header, *body = rows
    assert header[1] == "reward_mae_h1" and [row[0] for row in body] == ["0", "1", "2"]
    assert all(math.isfinite(float(row[1])) for row in body)

    from model_updates import open_loop_means

    from agent.analysis.random_data import train_world_model
    from agent.analysis.reward_check import load_run

    agent, replay, _ = load_run(tmp_path / "run")
    before = open_loop_means(agent, replay, draws=2, seed=0)
    np.testing.assert_equal(open_loop_means(agent, replay, draws=2, seed=0), before)  # NaN too
    train_world_model(agent, replay, 2)
    after = open_loop_means(agent, replay, draws=2, seed=0)
    assert after["model/openloop_obs_mse_h1"] != before["model/openloop_obs_mse_h1"]


def test_seed_medians_count_an_unsolved_seed_as_slowest_and_as_holding_nothing():
    from common import seed_medians

    rows = [{"solve_step": 2_000, "solve_wall_s": 50.0, "held_fraction": 0.75,
             "final_return": 500.0},
            {"solve_step": None, "solve_wall_s": None, "held_fraction": None,
             "final_return": 300.0},
            {"solve_step": 8_000, "solve_wall_s": 90.0, "held_fraction": 0.25,
             "final_return": 450.0}]
    got = seed_medians(rows)
    assert got["median_solve_step"] == 8_000  # the unsolved seed ranks after 8,000
    assert got["median_solve_wall_s"] == 90.0
    assert got["median_held_fraction"] == 0.25  # of 0.75, 0.25 and the unsolved seed's 0
    assert got["median_final_return"] == 450.0
    rows[1] |= {"solve_step": 9_500, "held_fraction": None}  # reached at its last eval
    assert seed_medians(rows)["median_held_fraction"] == 0.25


def test_the_code_probe_with_board_scores_each_minatar_object_per_chunk_and_at_the_end():
    pytest.importorskip("minatar", reason="the minatar extra is not installed")
    shown = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks/code_probe.py"), "--steps", "80", "--updates",
         "4", "--every", "2", "--board", "env=minatar", "env.game=breakout",
         "model.cnn_depth=4", "train.batch_size=4", "train.seq_len=16"],
        check=True, timeout=300, capture_output=True, text=True, cwd=ROOT / "benchmarks").stdout
    per_chunk = [line for line in shown.splitlines() if "posterior draws" in line]
    assert len(per_chunk) == 2 and all("paddle" in line and "brick" in line
                                       for line in per_chunk)
    assert "1 step ahead" in shown and shown.rstrip().splitlines()[-1].startswith("brick")


def test_the_board_autoencoder_reports_each_object_under_its_name():
    pytest.importorskip("minatar", reason="the minatar extra is not installed")
    shown = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks/board_autoencoder.py"), "--game", "freeway",
         "--likelihood", "bernoulli", "--mean-frame", "--min-res", "4", "--depth", "4",
         "--batch", "8", "--updates", "4", "--every", "2", "--fit", "pad"],
        check=True, timeout=300, capture_output=True, text=True, cwd=ROOT).stdout
    reports = [line for line in shown.splitlines() if "updates: loss" in line]
    assert [line.split()[0] for line in reports] == ["2", "4"]
    assert all("chicken" in line and "speed5" in line for line in reports)
