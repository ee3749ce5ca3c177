"""A run folder is never corrupted: one run at a time per folder, resumes that change
nothing until they succeed, finished runs left as they are, one-line errors for known
failures during a run (a full disk here: a file-size limit), and shell exit codes."""

import hashlib
import json
import os
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from agent.loop import checkpoint
from agent.loop.cores import usable_cores

ROOT = Path(__file__).resolve().parents[1]
TINY = ["preset=debug", "wandb.mode=disabled", "log.progress=false", "threads=1"]


def command(*args: str) -> list[str]:
    return [sys.executable, str(ROOT / "run.py"), *args]


def run(*args: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(command(*args), cwd=ROOT, capture_output=True, text=True,
                          timeout=300, **kwargs)


def last_line(text: str) -> str:
    return [line for line in text.splitlines() if line.strip()][-1]


def fingerprint(folder: Path) -> dict[str, str]:
    """Every file under `folder` (wandb's aside) with the hash of its bytes."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def start_long_run(run_dir: Path, *extra: str) -> subprocess.Popen:
    proc = subprocess.Popen(command(*TINY, "steps=100000", "checkpoint.every=0",
                                    f"run_dir={run_dir}", *extra),
                            cwd=ROOT, stderr=subprocess.PIPE, text=True)
    metrics = run_dir / "metrics.jsonl"
    deadline = time.time() + 120
    while time.time() < deadline and not (metrics.exists() and metrics.read_text()):
        time.sleep(0.3)
    assert metrics.exists(), "the first run did not start"
    return proc


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> Path:
    run_dir = tmp_path_factory.mktemp("finished") / "run"
    result = run(*TINY, f"run_dir={run_dir}")
    assert result.returncode == 0, result.stderr
    return run_dir


def test_a_second_run_in_a_busy_folder_is_refused_naming_the_holder(tmp_path):
    run_dir = tmp_path / "run"
    first = start_long_run(run_dir)
    try:
        before = fingerprint(run_dir / "checkpoints") if (run_dir / "checkpoints").exists() \
            else {}
        second = run(*TINY, f"run_dir={run_dir}", "seed=2")
        resumed = run(f"resume={run_dir}")
        for result in (second, resumed):
            assert result.returncode != 0
            assert f"in use by another run (pid {first.pid})" in last_line(result.stderr)
            assert "Traceback" not in result.stderr
        config = (run_dir / "config.yaml").read_text()
        assert "seed: 0" in config  # the first run's, not the refused one's
        assert (fingerprint(run_dir / "checkpoints") if (run_dir / "checkpoints").exists()
                else {}) == before
    finally:
        first.send_signal(signal.SIGTERM)
        first.communicate(timeout=120)
    steps = [json.loads(line)["step"] for line in
             (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert steps == sorted(steps)  # one run's events only: never back in time


def test_resuming_a_finished_run_changes_nothing_and_says_how_to_go_on(finished):
    before = fingerprint(finished)
    result = run(f"resume={finished}")
    assert result.returncode != 0
    assert last_line(result.stderr) == (
        f"error: resume={finished} already finished at 400 env steps; pass steps=M with "
        f"M > 400 to train longer")
    assert fingerprint(finished) == before


def test_training_a_finished_run_longer_keeps_its_summary(finished, tmp_path):
    import shutil

    run_dir = tmp_path / "run"
    shutil.copytree(finished, run_dir)
    first = json.loads((run_dir / "summary.json").read_text())
    result = run(f"resume={run_dir}", "steps=600")
    assert result.returncode == 0, result.stderr
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["steps"] == 600 and "eval/return" in summary
    assert summary["earlier"] == [first]


def test_a_failed_resume_leaves_the_folder_as_it_was(finished, tmp_path):
    import shutil

    run_dir = tmp_path / "run"
    shutil.copytree(finished, run_dir)
    latest = checkpoint.latest(run_dir / "checkpoints")
    state = checkpoint.load(latest)
    state["agent"].pop("world_model.gru.weight_hh")  # a checkpoint that does not fit
    checkpoint.save(run_dir / "checkpoints", 500, state)
    before = fingerprint(run_dir)
    result = run(f"resume={run_dir}", "steps=800", "eval.every=100")
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert "ckpt-0000000500.pt does not fit this run" in last_line(result.stderr)
    assert fingerprint(run_dir) == before


def limit_file_size(limit: int):
    def apply():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # fail the write, do not kill
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    return apply


def test_a_failed_checkpoint_write_is_one_line_and_leaves_no_debris(tmp_path):
    run_dir = tmp_path / "run"
    # Room for the config and the metrics, not for a checkpoint (over 100 kB here).
    result = run(*TINY, f"run_dir={run_dir}", "checkpoint.every=200",
                 preexec_fn=limit_file_size(60_000))
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    line = last_line(result.stderr)
    assert line.startswith(f"error: run in {run_dir} stopped: File too large")
    assert "ckpt-0000000200.pt" in line and "no checkpoint was written" in line
    assert not list(run_dir.rglob("*.tmp"))


def test_a_run_dir_that_cannot_be_a_folder_is_one_line_and_touches_nothing(tmp_path):
    """A run_dir below a file cannot be made, and its error.txt cannot be written either:
    the line still names the cause and the fix, and the file stays as it was."""
    blocker = tmp_path / "results"
    blocker.write_text("not a folder\n")
    result = run(*TINY, f"run_dir={blocker / 'run'}")
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert last_line(result.stderr) == (
        f"error: run in {blocker / 'run'} stopped: Not a directory ({blocker / 'run'}); no "
        f"checkpoint was written; choose a run_dir whose parents are all folders and start "
        f"again")
    assert blocker.read_text() == "not a folder\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results"]


def test_a_stopped_run_exits_with_the_shell_code_of_its_signal(tmp_path):
    # SIGUSR2: SLURM's warning before a time limit, as submitit passes it on
    for sig, code in ((signal.SIGINT, 130), (signal.SIGTERM, 143), (signal.SIGUSR2, 140)):
        run_dir = tmp_path / sig.name
        proc = start_long_run(run_dir)
        proc.send_signal(sig)
        _, stderr = proc.communicate(timeout=120)
        assert proc.returncode == code, stderr
        assert checkpoint.latest(run_dir / "checkpoints") is not None


def test_a_multirun_with_a_crashed_job_exits_non_zero_and_names_it(tmp_path):
    result = run("-m", *TINY, "env.id=CartPole-v1,tests.custom_env:Crashing-v0",
                 "steps=200", "eval.every=0", "hydra.launcher.n_jobs=2",
                 f"hydra.sweep.dir={tmp_path / 'sweep'}")
    assert result.returncode != 0
    line = last_line(result.stderr)
    assert "1 of 2 runs did not finish" in line and "Crashing-v0" in line
    assert "env.id=CartPole-v1" not in line


def test_a_job_refused_before_its_run_is_listed_by_the_report_and_cleared_on_relaunch(
        tmp_path):
    """A grid value no config check can catch (an env id nothing registers) refuses its job
    at start-up: the job's folder keeps the one line, which the report lists, and a launch
    again replaces it rather than setting an empty run aside."""
    sweep_dir = tmp_path / "sweep"
    grid = ("-m", *TINY, "env.id=CartPole-v1,NoSuchEnv-v0", "steps=100", "eval.every=0",
            "hydra.launcher.n_jobs=1", f"hydra.sweep.dir={sweep_dir}")
    result = run(*grid)
    assert result.returncode != 0
    refused = sweep_dir / "env.id=NoSuchEnv-v0,eval.every=0,preset=debug,steps=100"
    assert [p.name for p in refused.iterdir()] == ["refused.txt"]
    assert "NoSuchEnv-v0" in (refused / "refused.txt").read_text()
    report = run(f"report={sweep_dir}", "wandb.mode=disabled")
    assert report.returncode == 0, report.stderr
    assert f"`{refused.name}` was refused: env.id='NoSuchEnv-v0'" in (
        sweep_dir / "report.md").read_text()
    again = run(*grid)
    assert again.returncode != 0 and "NoSuchEnv-v0" in last_line(again.stderr)
    assert not list(sweep_dir.glob("*.unfinished-*"))  # no set-aside copy of the line
    assert [p.name for p in refused.iterdir()] == ["refused.txt"]


def test_a_sweep_over_ids_with_a_namespace_gives_each_job_one_folder(tmp_path):
    """`env.id=ALE/Pong-v5` as a sweep value: each job's folder is one folder beside the
    others (where report= looks), the launch records every outcome, and no bookkeeping
    folder is left where it was launched."""
    sweep_dir = tmp_path / "sweep"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    result = subprocess.run(command(
        "-m", *TINY, "steps=100", "eval.every=0", "hydra.launcher.n_jobs=1",
        "env.id=tests.custom_env:slashed/ShortCartPole-v0,CartPole-v1",
        f"hydra.sweep.dir={sweep_dir}"), cwd=tmp_path, env=env, capture_output=True,
        text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    finished = sorted(p.parent.name for p in sweep_dir.glob("*/summary.json"))
    assert finished == ["env.id=CartPole-v1,eval.every=0,preset=debug,steps=100",
                        "env.id=tests.custom_env\\:slashed%2FShortCartPole-v0,eval.every=0,"
                        "preset=debug,steps=100"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sweep"]


def wandb_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """No credentials anywhere: a HOME of its own, no key in the environment."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("WANDB_")}
    return env | {"HOME": str(tmp_path / "home"), "NETRC": str(tmp_path / "no-netrc")} | extra


def test_online_wandb_without_a_key_stops_before_the_folder_exists(tmp_path):
    run_dir = tmp_path / "run"
    result = run("preset=debug", "log.progress=false", "wandb.mode=online",
                 "wandb.fallback=error", f"run_dir={run_dir}", env=wandb_env(tmp_path))
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert "no wandb API key" in last_line(result.stderr)
    assert not run_dir.exists()


def test_online_wandb_without_a_key_falls_back_to_offline(tmp_path):
    run_dir = tmp_path / "run"
    result = run("preset=debug", "log.progress=false", "wandb.mode=online", "threads=1",
                 f"run_dir={run_dir}", env=wandb_env(tmp_path))
    assert result.returncode == 0, result.stderr
    assert "logging offline" in result.stderr
    assert list((run_dir / "wandb").glob("offline-run-*"))
    assert (run_dir / "summary.json").exists()


def test_online_wandb_that_cannot_connect_leaves_no_half_made_folder(tmp_path):
    run_dir = tmp_path / "run"
    env = wandb_env(tmp_path, WANDB_API_KEY="x" * 40, WANDB_BASE_URL="http://127.0.0.1:9")
    tic = time.time()
    result = run("preset=debug", "log.progress=false", "wandb.mode=online",
                 "wandb.fallback=error", "wandb.init_timeout=15", f"run_dir={run_dir}",
                 env=env)
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert "wandb could not start" in last_line(result.stderr)
    assert time.time() - tic < 120
    assert not run_dir.exists()


def test_auto_replay_capacity_fits_the_memory_and_the_observation():
    from agent.loop.memory import GIB, MAX_AUTO_STEPS, replay_capacity

    # A 64 x 64 x 3 image step: 1M steps would need 11.5 GiB, and the checkpoint as much.
    image_step = 64 * 64 * 3 + 4 * 2 + 12
    capacity, why = replay_capacity("auto", image_step, 64, available=int(22.1 * GIB))
    assert 2 * capacity * image_step <= 0.5 * 22.1 * GIB < 2 * (capacity + 1) * image_step
    assert "22.1 GiB available" in why
    assert replay_capacity("auto", 36, 64, available=int(22.1 * GIB))[0] == MAX_AUTO_STEPS
    with pytest.raises(ValueError, match="replay.capacity=1000000 needs 11.5 GiB"):
        replay_capacity(1_000_000, image_step, 64, available=int(22.1 * GIB))


def test_runs_started_together_divide_the_auto_capacity():
    from agent.loop.memory import GIB, replay_capacity

    image_step = 64 * 64 * 3 + 4 * 2 + 12
    alone, _ = replay_capacity("auto", image_step, 64, available=int(22.1 * GIB))
    shared, why = replay_capacity("auto", image_step, 64, available=int(22.1 * GIB),
                                  sharing=3)
    assert shared == alone // 3 or shared == alone // 3 + 1
    assert "1/3 of 50% of the 22.1 GiB available" in why


@pytest.mark.parametrize("n_jobs", [3, -1, -2, None])
def test_a_sweeps_parallel_jobs_share_the_replay_memory(n_jobs):
    """As many shares as joblib runs jobs at once (its own count of -1, -2, ...; joblib
    also honours LOKY_MAX_CPU_COUNT, which the sweep's count does not read)."""
    from joblib import effective_n_jobs

    from agent.loop.sweep import job_config
    from tests.helpers import compose_config

    cfg = job_config(compose_config(), "sweeps/x", "seed=0", n_jobs)
    sharing = 1 if n_jobs is None else effective_n_jobs(n_jobs)
    assert cfg.replay.sharing == sharing
    cores = usable_cores()  # the CPUs this process may use, which the jobs share
    assert cfg.threads == (0 if n_jobs is None else max(1, cores // min(sharing, cores)))


def test_an_auto_capacity_is_saved_as_the_number_it_chose(tmp_path):
    run_dir = tmp_path / "run"
    result = run(*TINY, "replay.capacity=auto", "steps=200", "eval.every=0",
                 f"run_dir={run_dir}")
    assert result.returncode == 0, result.stderr
    assert "replay: 1000000 steps preallocated" in result.stderr
    assert "capacity: 1000000" in (run_dir / "config.yaml").read_text()


def test_each_launch_of_a_sweep_keeps_its_own_multirun_record(tmp_path):
    from agent.loop.launches import keep_earlier_launch

    assert keep_earlier_launch(tmp_path) is None  # a first launch has nothing to keep
    texts = ["quantizer: fsq\n", "quantizer: vq\n", "quantizer: none\n"]
    for text in texts:  # three launches within one second: none overwrites another
        keep_earlier_launch(tmp_path)
        (tmp_path / "multirun.yaml").write_text(text)
    kept = sorted(p.read_text() for p in tmp_path.glob("multirun-*.yaml"))
    assert kept == sorted(texts[:2])
    assert (tmp_path / "multirun.yaml").read_text() == texts[2]


# -- a run killed at the worst moments (found by killing real runs) ------------------------
@pytest.fixture(scope="module")
def checkpointed(tmp_path_factory) -> Path:
    """A finished run with a checkpoint every 100 steps (100 ... 400)."""
    run_dir = tmp_path_factory.mktemp("checkpointed") / "run"
    result = run(*TINY, f"run_dir={run_dir}", "checkpoint.every=100", "checkpoint.keep=5",
                 "log.openloop_every=100")
    assert result.returncode == 0, result.stderr
    return run_dir


def killed_after_300(checkpointed: Path, tmp_path: Path) -> Path:
    """The run as a kill just before its step-400 checkpoint would have left it: events
    logged past the step-300 checkpoint, no summary."""
    import shutil

    run_dir = tmp_path / "run"
    shutil.copytree(checkpointed, run_dir)
    (run_dir / "summary.json").unlink()
    for suffix in (".pt", ".json"):
        (run_dir / "checkpoints" / f"ckpt-0000000400{suffix}").unlink()
    return run_dir


def test_a_resume_with_nothing_left_to_train_keeps_its_checkpoint_and_summarises_its_evals(
        checkpointed, tmp_path):
    import shutil

    run_dir = tmp_path / "run"
    shutil.copytree(checkpointed, run_dir)
    finished = json.loads((run_dir / "summary.json").read_text())
    (run_dir / "summary.json").unlink()  # killed between the last checkpoint and the summary
    last = run_dir / "checkpoints" / "ckpt-0000000400.pt"
    before = (last.stat().st_ino, last.stat().st_mtime_ns)
    result = run(f"resume={run_dir}")
    assert result.returncode == 0, result.stderr
    # the good checkpoint is not written again (a kill then could have cost it)
    assert (last.stat().st_ino, last.stat().st_mtime_ns) == before
    summary = json.loads((run_dir / "summary.json").read_text())
    evals = {k: v for k, v in finished.items() if k.startswith("eval/")}
    assert evals and {k: summary[k] for k in evals} == evals


def test_a_resume_behind_what_wandb_logged_goes_on_in_a_new_wandb_run(tmp_path):
    """wandb keeps one value per step: a run killed after logging past its checkpoint
    resumes into a new wandb run, while a run stopped at its checkpoint resumes its own."""
    import shutil

    def wandb_ids(run_dir: Path) -> set[str]:
        return {p.name.rsplit("-", 1)[1] for p in (run_dir / "wandb").glob("offline-run-*")}

    run_dir = tmp_path / "run"
    offline = [*TINY, "wandb.mode=offline"]
    result = run(*offline, f"run_dir={run_dir}", "checkpoint.every=100", "checkpoint.keep=5",
                 env=wandb_env(tmp_path))
    assert result.returncode == 0, result.stderr
    (first,) = wandb_ids(run_dir)
    stopped_at_checkpoint = tmp_path / "stopped"
    shutil.copytree(run_dir, stopped_at_checkpoint)
    (stopped_at_checkpoint / "summary.json").unlink()
    result = run(f"resume={stopped_at_checkpoint}", env=wandb_env(tmp_path))
    assert result.returncode == 0, result.stderr
    assert "logged past" not in result.stderr
    assert wandb_ids(stopped_at_checkpoint) == {first}

    (run_dir / "summary.json").unlink()  # killed after logging step 400, before its checkpoint
    for suffix in (".pt", ".json"):
        (run_dir / "checkpoints" / f"ckpt-0000000400{suffix}").unlink()
    result = run(f"resume={run_dir}", env=wandb_env(tmp_path))
    assert result.returncode == 0, result.stderr
    assert f"wandb: run {first} logged past env step 300" in result.stderr
    (second,) = wandb_ids(run_dir) - {first}
    state = checkpoint.load(checkpoint.latest(run_dir / "checkpoints"))
    assert state["wandb_id"] == second  # a later resume goes on in the new one


def test_a_resume_that_would_cut_the_run_short_is_refused_before_anything_changes(
        checkpointed, tmp_path):
    run_dir = killed_after_300(checkpointed, tmp_path)
    before = fingerprint(run_dir)
    result = run(f"resume={run_dir}", "steps=200")
    assert result.returncode == 1
    assert "steps=200 is below the 300 env steps" in last_line(result.stderr)
    assert fingerprint(run_dir) == before


def test_a_metrics_line_cut_short_by_a_failed_write_is_left_out_and_the_run_resumes(
        checkpointed, tmp_path):
    run_dir = killed_after_300(checkpointed, tmp_path)
    with open(run_dir / "metrics.jsonl", "a") as f:
        f.write('{"step": 400, "frames": 400, "loss/recon": 0.41')  # a full disk, mid-line
    result = run(f"resume={run_dir}")
    assert result.returncode == 0, result.stderr
    events = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    logged = [(e["step"], tuple(sorted(e))) for e in events]
    assert len(logged) == len(set(logged))  # every event once: none repeated by the resume
    def measured(lines):  # what the run measured, not how long it took
        return [{k: v for k, v in json.loads(line).items() if not k.startswith("perf/")}
                for line in lines]
    uninterrupted = (checkpointed / "metrics.jsonl").read_text().splitlines()
    assert measured(json.dumps(e) for e in events) == measured(uninterrupted)
    assert (run_dir / "summary.json").exists()


def test_a_damaged_metrics_line_stops_the_resume_before_anything_changes(checkpointed,
                                                                          tmp_path):
    run_dir = killed_after_300(checkpointed, tmp_path)
    lines = (run_dir / "metrics.jsonl").read_text().splitlines(keepends=True)
    lines[1] = '{"step": 1\n'
    (run_dir / "metrics.jsonl").write_text("".join(lines))
    before = fingerprint(run_dir)
    result = run(f"resume={run_dir}")
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "metrics.jsonl line 2 is not a JSON event" in last_line(result.stderr)
    assert fingerprint(run_dir) == before


INJECT = """
import os, runpy, signal, sys, time
from pathlib import Path
import agent.loop.checkpoint as checkpoint
import agent.loop.run as run_module

when, record, *args = sys.argv[1:]
save = checkpoint.save

def recording_save(folder, step, state, keep=3):
    with open(record, "a") as f:
        f.write(f"{step}\\n")
    if when == "term-in-save" and step == 200:
        os.kill(os.getpid(), signal.SIGTERM)  # arrives while this checkpoint is written
    return save(folder, step, state, keep)

class SlowStartLogger(run_module.Logger):
    def __init__(self, *a, **k):
        os.kill(os.getpid(), signal.SIGTERM)  # arrives while wandb would be starting
        time.sleep(30)
        super().__init__(*a, **k)

checkpoint.save = recording_save
if when == "term-at-start":
    run_module.Logger = SlowStartLogger
sys.argv = ["run.py", *args]
runpy.run_path("run.py", run_name="__main__")
"""


def run_injected(when: str, tmp_path: Path, *args: str) -> tuple[int, list[int]]:
    record = tmp_path / "saves.txt"
    result = subprocess.run([sys.executable, "-c", INJECT, when, str(record), *args],
                            cwd=ROOT, capture_output=True, text=True, timeout=300)
    saves = [int(s) for s in record.read_text().split()] if record.exists() else []
    return result.returncode, saves


def test_each_step_is_checkpointed_once_at_the_end_and_when_a_stop_arrives_during_a_save(
        tmp_path):
    code, saves = run_injected("none", tmp_path, *TINY, f"run_dir={tmp_path / 'a'}",
                               "checkpoint.every=100")
    assert code == 0 and saves == [100, 200, 300, 400]  # the final one is not written twice
    (tmp_path / "saves.txt").unlink()
    code, saves = run_injected("term-in-save", tmp_path, *TINY, f"run_dir={tmp_path / 'b'}",
                               "checkpoint.every=100")
    assert code == 143 and saves == [200 - 100, 200]
    assert checkpoint.latest(tmp_path / "b" / "checkpoints").name == "ckpt-0000000200.pt"


def test_sigterm_while_a_run_starts_undoes_the_start(tmp_path):
    run_dir = tmp_path / "run"
    code, saves = run_injected("term-at-start", tmp_path, *TINY, f"run_dir={run_dir}")
    assert code == 143 and saves == []
    assert not run_dir.exists()  # no half-made folder that could neither resume nor restart


@pytest.mark.parametrize("n_jobs, started", [(1, 1), (2, 2)])
def test_ctrl_c_stops_a_multirun_its_running_jobs_checkpoint_and_the_rest_do_not_start(
        tmp_path, n_jobs, started):
    sweep = tmp_path / "sweep"
    # its own process group, which Ctrl-C in a terminal signals as a whole
    proc = subprocess.Popen(command("-m", *TINY, "steps=100000", "checkpoint.every=0",
                                    "seed=0,1,2", f"hydra.launcher.n_jobs={n_jobs}",
                                    f"hydra.sweep.dir={sweep}"),
                            cwd=ROOT, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    deadline = time.time() + 180
    while time.time() < deadline and sum(p.stat().st_size > 0
                                         for p in sweep.glob("*/metrics.jsonl")) < started:
        time.sleep(0.3)
    os.killpg(proc.pid, signal.SIGINT)
    _, stderr = proc.communicate(timeout=180)
    assert proc.returncode == 130, stderr
    jobs = [p for p in sweep.iterdir() if p.is_dir()]
    assert len(jobs) == started  # the others never started: no folder
    for job in jobs:  # each running job stopped with a whole checkpoint
        assert checkpoint.latest(job / "checkpoints") is not None, job
    line = last_line(stderr)
    assert "3 of 3 runs did not finish" in line and line.count("not started") == 3 - started

def test_a_run_starting_while_another_process_checks_the_folder_is_not_refused(tmp_path):
    import threading

    from agent.loop.lock import RunDirBusy, RunDirLock, holder

    run_dir = tmp_path / "run"
    first = RunDirLock(run_dir)
    first.acquire()  # makes the folder and its lock file
    first.release()
    done = threading.Event()

    def probe():  # as `resume=` and multirun jobs check a folder before they take it
        while not done.is_set():
            holder(run_dir)

    prober = threading.Thread(target=probe)
    prober.start()
    refused = 0
    try:
        for _ in range(300):
            lock = RunDirLock(run_dir)
            try:
                lock.acquire()
            except RunDirBusy:
                refused += 1
            lock.release()
    finally:
        done.set()
        prober.join()
    assert refused == 0


def test_plots_made_after_the_checkpoint_are_removed_on_resume_and_made_again(checkpointed,
                                                                             tmp_path):
    run_dir = killed_after_300(checkpointed, tmp_path)
    plots = sorted(p.name for p in (run_dir / "openloop").glob("*.png"))
    assert plots[-1] == "openloop-0000000400.png"
    result = run(f"resume={run_dir}", "log.openloop_every=200")  # 400 is due again, 300 not
    assert result.returncode == 0, result.stderr
    after = sorted(p.name for p in (run_dir / "openloop").glob("*.png"))
    assert after == plots  # 100-300 kept from the first session, 400 made again
    other = killed_after_300(checkpointed, tmp_path / "other")
    assert run(f"resume={other}", "log.openloop_every=1000").returncode == 0
    assert not (other / "openloop" / "openloop-0000000400.png").exists()  # not due again


def test_a_run_whose_envs_overshoot_its_steps_resumes_to_write_its_summary(tmp_path):
    run_dir = tmp_path / "run"
    result = run(*TINY, "env.num_envs=2", "steps=201", f"run_dir={run_dir}")
    assert result.returncode == 0, result.stderr
    assert json.loads((run_dir / "summary.json").read_text())["steps"] == 202  # 2 at a time
    (run_dir / "summary.json").unlink()  # killed after the last checkpoint
    result = run(f"resume={run_dir}")
    assert result.returncode == 0, result.stderr
    assert json.loads((run_dir / "summary.json").read_text())["steps"] == 202


def test_reading_metrics_leaves_out_a_cut_short_tail_and_names_a_damaged_line(tmp_path):
    from agent.loop.metrics_file import MetricsError, events_until, read_events

    path = tmp_path / "metrics.jsonl"
    path.write_text('{"step": 1, "x": 1}\n{"step": 2, "x": 2}\n{"step": 3, "x"')
    with pytest.warns(UserWarning, match="last line was cut short"):
        assert [e["step"] for e in read_events(path)] == [1, 2]
    path.write_text('{"step": 1}\n{"step": 2}\n\x00\x00\x00\n{"step": 3}\n')
    with pytest.raises(MetricsError, match="line 3 is not a JSON event"):
        read_events(path)
    # past the step a resume continues from, damage is cut with the rest, not read
    assert events_until(path, 2) == '{"step": 1}\n{"step": 2}\n'
    path.write_text('{"step": 1}\n["step", 2]\n{"step": 3}\n')
    with pytest.raises(MetricsError, match="line 2"):  # damage among the events kept
        events_until(path, 5)


def test_a_refusal_is_written_only_into_an_empty_job_folder_and_only_it_is_cleared(tmp_path):
    from agent.loop import sweep

    held = tmp_path / "held"  # a job folder that holds a run: never written into
    held.mkdir()
    (held / "config.yaml").write_text("seed: 0\n")
    sweep.record_refusal(held, "refused: a bad env")
    assert sorted(p.name for p in held.iterdir()) == ["config.yaml"]

    refused = tmp_path / "refused"
    sweep.record_refusal(refused, "env.id='NoSuchEnv-v0' cannot be made")
    assert sweep.set_aside(refused) is None  # the line goes as the job starts again
    assert refused.is_dir() and not any(refused.iterdir())

    crashed = tmp_path / "crashed"  # a crash before the config: its traceback is kept
    crashed.mkdir()
    (crashed / "error.txt").write_text("MemoryError: replay\n\nTraceback ...\n")
    moved = sweep.set_aside(crashed)
    assert moved is not None and (moved / "error.txt").read_text().startswith("MemoryError")
