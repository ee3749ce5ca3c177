"""The command line as users run it: a real debug run, and bad input refused up front."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from agent.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "WANDB_SILENT": "true"}
    return subprocess.run([sys.executable, str(ROOT / "run.py"), *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


def test_debug_run_writes_config_metrics_and_an_offline_wandb_run(tmp_path):
    run_dir = tmp_path / "run"
    result = run("preset=debug", f"run_dir={run_dir}", "log.progress=false", "threads=1",
                 "eval.video_every=2", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    config = yaml.safe_load((run_dir / "config.yaml").read_text())
    assert config["env"]["id"] == "CartPole-v1" and config["quantizer"]["name"] == "fsq"
    assert config["run_dir"] == str(run_dir)
    events = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    evals = [e for e in events if "eval/return" in e]
    assert evals and all(e["eval/return"] > 0 for e in evals)
    assert events[-1]["step"] == config["steps"]
    assert all(e["frames"] == e["step"] for e in events)  # CartPole: no action repeat
    namespaces = {k.split("/")[0] for e in events for k in e if k not in ("step", "frames")}
    assert namespaces == {"train", "eval", "loss", "quant", "model", "perf"}
    losses = {k for e in events for k in e if k.startswith("loss/")}
    assert {"loss/recon", "loss/reward", "loss/cont", "loss/dyn", "loss/rep", "loss/actor",
            "loss/critic"} <= losses
    episodes = [e for e in events if "train/length" in e]
    assert episodes  # CartPole pays 1 per step: an episode's return is its length
    assert all(e["train/return"] == e["train/length"] for e in episodes)
    offline = list((run_dir / "wandb").glob("offline-run-*/run-*.wandb"))
    assert len(offline) == 1 and offline[0].stat().st_size > 0
    # Two evaluations (steps 200 and 400), a video at every second one, also in wandb.
    assert [p.name for p in (run_dir / "videos").iterdir()] == ["eval-0000000400.mp4"]
    assert list((run_dir / "wandb").glob("offline-run-*/files/media/videos/eval/*.mp4"))


@pytest.mark.parametrize("quantizer", ["vq", "categorical"])
def test_quantizer_is_a_one_word_change(tmp_path, quantizer):
    run_dir = tmp_path / "run"
    result = run("preset=debug", f"quantizer={quantizer}", "steps=250", "wandb.mode=disabled",
                 f"run_dir={run_dir}", "log.progress=false", "threads=1", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert yaml.safe_load((run_dir / "config.yaml").read_text())["quantizer"]["name"] == quantizer
    events = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert any("quant/perplexity" in e for e in events)


def test_module_ids_register_on_import(tmp_path):
    run_dir = tmp_path / "run"
    result = run("preset=debug", "steps=200", "env.id=tests.custom_env:ShortCartPole-v0",
                 "wandb.mode=disabled", f"run_dir={run_dir}", "log.progress=false", "threads=1",
                 cwd=ROOT)
    assert result.returncode == 0, result.stderr
    events = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    lengths = [e["eval/length"] for e in events if "eval/length" in e]
    assert lengths and all(n == 5 for n in lengths)  # the registered time limit applies


@pytest.mark.parametrize("args, names", [
    (["env.id=tests.custom_env:TextObservation-v0"], "Text"),
    (["env.id=tests.custom_env:DictAction-v0"], "Dict"),
    (["env.id=NoSuchEnv-v0"], "NoSuchEnv-v0"),
    (["env.id=no_such_module:Thing-v0"], "no_such_module"),
    (["quantizer=nope"], "quantizer=nope"),
    (["no_such_key=1"], "no_such_key"),
    (["quantizer.no_such_option=1"], "quantizer.no_such_option"),
    (["train.model_opt.lr=-1e-4"], "train.model_opt.lr"),
    (["train.model_opt.lr=fast"], "train.model_opt.lr"),
    (["quantizer.levels=[1,5]"], "quantizer.levels"),
    (["quantizer=vq", "quantizer.codebook_size=0"], "codebook_size"),
    (["replay.capacity=100000000000"], "replay.capacity"),
    (["replay.recency=1.5"], "replay.recency"),
    (["env.image_size=20"], "env.image_size"),
    (["env.image_size=big"], "env.image_size"),
    (["env.image_fit=crop"], "env.image_fit"),
    (["env=minatar", "env.image_fit=pad", "env.image_size=auto"], "env.image_fit=pad"),
    (["model.image_decoder_start=zeros"], "model.image_decoder_start"),
    (["model.step_input=both"], "model.step_input"),
    (["env.obs=pixels", "env.image_size=flat"], "rendered frames"),  # a render needs pixels
    (["env=mujoco", "env.image_size=flat"], "rendered frames"),  # it renders at image_size
    (["env=dmc", "env.image_size=auto"], "renders at image_size"),  # a render has a size
    (["quantizer=vq", "quantizer.estimator=magic"], "quantizer.estimator"),
    (["quantizer.name=vq"], "quantizer=NAME"),  # renaming fsq's options is not switching
    (["env=memory", "env.kwargs.delay=-1"], "delay"),
    (["+env.kwargs.pole_colour=1"], "pole_colour"),
    (["env=memory", "env.kwargs.dealy=6"], "+env.kwargs.dealy=VALUE"),
    (["env.task=Hopper-v5"], "drop env.task"),  # read by env=dmc and env=mujoco only
    (["env.game=breakout"], "drop env.game"),
    (["env=dmc", "env.id=dm_control/cheetah-run-v0"], "env.task"),  # would be named walker
    (["env.crop=[0.8,0.2,0,1]"], "env.crop"),  # keeps nothing
    (["env.crop=[0.2,0.8]"], "env.crop"),
    (["env.crop=[0.2,0.8,0,1]"], "env.crop applies to"),  # CartPole's vector, not an image
])
def test_bad_input_fails_with_one_line_before_run_dir_exists(tmp_path, args, names):
    run_dir = tmp_path / "run"
    result = run("preset=debug", f"run_dir={run_dir}", *args, cwd=tmp_path)
    assert result.returncode != 0
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ") and names in lines[0]
    assert "Traceback" not in result.stderr
    assert not run_dir.exists()


@pytest.mark.parametrize("args, names", [
    (["quantizer=fsq,vqq"], "quantizer=vqq"),  # the second value of a swept group
    (["quantizer=fsq,vq", "trian.batch_size=4"], "trian"),
    (["seed=0,1", "train.model_opt.lr=1e-4,fast"], "train.model_opt.lr"),
    (["seed=0", "threads=1,2"], "threads=1,2"),  # not part of a job's folder name
    (["quantizer=fsq,vq", "train.model_opt.lr=-1"], "train.model_opt.lr"),  # out of range
    (["seed=0,1", "hydra.launcher.n_jobs=0"], "hydra.launcher.n_jobs=0"),  # joblib's traceback
])
def test_a_bad_grid_fails_with_one_line_before_any_job(tmp_path, args, names):
    result = run("-m", "preset=debug", "sweep=bad", *args, cwd=tmp_path)
    assert result.returncode != 0
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ") and names in lines[0]
    assert not (tmp_path / "sweeps").exists()


def test_a_grid_of_only_run_settings_is_refused():
    from agent.loop.cli import check_overrides

    # Its one job's folder name would be empty: the run would land in the sweep folder.
    with pytest.raises(ConfigError, match="at least one setting of what it trains"):
        check_overrides(str(ROOT / "configs"), ["-m", "threads=2", "wandb.mode=disabled"])
    check_overrides(str(ROOT / "configs"), ["-m", "threads=2", "seed=0"])


def test_an_existing_run_folder_is_left_untouched(tmp_path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "metrics.jsonl").write_text('{"step": 1}\n')
    result = run("preset=debug", f"run_dir={run_dir}", cwd=tmp_path)
    assert result.returncode != 0 and "already exists" in result.stderr
    assert sorted(p.name for p in run_dir.iterdir()) == ["metrics.jsonl"]
    assert (run_dir / "metrics.jsonl").read_text() == '{"step": 1}\n'
    assert "resume=" not in result.stderr  # nothing there to resume
    # A folder holding a run with a checkpoint: the line says how to continue it.
    (run_dir / "checkpoints").mkdir()
    (run_dir / "checkpoints" / "ckpt-0000000100.pt").write_bytes(b"")
    result = run("preset=debug", f"run_dir={run_dir}", cwd=tmp_path)
    assert result.returncode != 0 and f"resume={run_dir} continues it" in result.stderr
    # A file where the folder would be.
    result = run("preset=debug", f"run_dir={run_dir / 'metrics.jsonl'}", cwd=tmp_path)
    assert result.returncode != 0 and "is a file, not a folder" in result.stderr
    assert sorted(p.name for p in run_dir.iterdir()) == ["checkpoints", "metrics.jsonl"]


def test_configs_composed_by_several_threads_at_once_are_each_their_own():
    from concurrent.futures import ThreadPoolExecutor

    from agent.loop.cli import compose_config

    seeds = list(range(8))
    with ThreadPoolExecutor(4) as pool:  # a benchmark's jobs compose side by side
        configs = list(pool.map(lambda seed: compose_config(
            str(ROOT / "configs"), ["run_dir=unused", f"seed={seed}"]), seeds))
    assert [cfg.seed for cfg in configs] == seeds


def test_cartpoles_tuning_does_not_follow_env_id_to_another_env():
    from agent.loop.cli import compose_config

    def weight(*overrides: str) -> float:
        return compose_config(str(ROOT / "configs"), list(overrides)).model.terminal_weight

    assert weight() == weight("env.obs=pixels") == 10.0  # CartPole, from state or pixels
    assert weight("env.id=Acrobot-v1") == weight("env=pendulum") == 1.0  # the schema's
    assert weight("model.terminal_weight=3") == 3.0  # a setting given still wins


def test_a_run_shorter_than_its_prefill_says_it_never_trains(tmp_path):
    run_dir = tmp_path / "run"
    result = run("preset=debug", "steps=50", "train.prefill=100", "wandb.mode=disabled",
                 "log.progress=false", "threads=1", f"run_dir={run_dir}", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "train.prefill=100 >= steps=50: this run acts at random throughout" in result.stderr
    assert json.loads((run_dir / "summary.json").read_text())["updates"] == 0
