"""Shared by the benchmark scripts: one training run in a subprocess (or its resumption),
and reading its metrics."""

import argparse
import dataclasses
import functools
import json
import re
import sys
import time
from pathlib import Path
from signal import Signals

import numpy as np
import yaml
from children import NotStarted, run_child

from agent.analysis.report import median_unsolved_last
from agent.config import (
    changed_settings,
    comparable,
    flatten,
    is_run_key,
    override_key,
    saved_flat_settings,
    saved_settings,
)
from agent.loop.cli import compose_config
from agent.loop.metrics_file import METRICS, read_events
from agent.loop.signals import SIGNAL_EXIT
from agent.loop.sweep import SUMMARY, prepare
from agent.quantizers import registry

ROOT = Path(__file__).resolve().parents[1]


def load_config(overrides: list[str]):
    """The config a run with these overrides gets (as a typed Config)."""
    return compose_config(str(ROOT / "configs"), ["run_dir=unused", *overrides])


def train(run_dir: Path, overrides: list[str]) -> float:
    """Run `run.py` with the given overrides (no wandb, no progress bar); returns wall s."""
    cmd = [sys.executable, str(ROOT / "run.py"), f"run_dir={run_dir}", "wandb.mode=disabled",
           "log.progress=false", *overrides]
    tic = time.perf_counter()
    run_child(cmd)
    return time.perf_counter() - tic


def resume(run_dir: Path, overrides: list[str], *more: str) -> None:
    """Continue the run in run_dir from its latest checkpoint (no wandb, no progress bar).
    Of `overrides` (what a fresh run would be given), only how this session carries the
    run out (threads, device, ...) applies; what it trained is its own. `more`: e.g. a
    longer `steps=`."""
    carried = [o for o in overrides if is_run_key(override_key(o))]
    run_child([sys.executable, str(ROOT / "run.py"), f"resume={run_dir}",
               "wandb.mode=disabled", "log.progress=false", *carried, *more])


def train_or_resume(run_dir: Path, overrides: list[str]) -> float:
    """`train` unless run_dir already holds this run: a finished one (summary.json) is read
    again, an interrupted one continues from its latest checkpoint, and a finished one asked
    for more steps trains on, so a long benchmark stopped midway loses at most a checkpoint
    interval; other settings stop it (check_run_folder, which a benchmark also calls for
    every run before any trains). Returns the run's training wall s over all its
    sessions (its own clock: start-up and work redone after an interruption not counted)."""
    check_run_folder(run_dir, overrides)
    differ = settings_not_held(run_dir, overrides) if (run_dir / "config.yaml").exists() else {}
    longer = [f"steps={differ['steps'][1]}"] if differ else []  # only steps can differ here
    # A finished run asked for more steps trains on; any other goes through prepare (None:
    # finished; True: resume; False: start, an unfinished run without a checkpoint set aside).
    todo = True if longer and (run_dir / SUMMARY).exists() else prepare(run_dir)
    if todo is None:
        pass
    elif todo:
        resume(run_dir, overrides, *longer)
    else:
        train(run_dir, overrides)
    return json.loads((run_dir / SUMMARY).read_text())["perf/wall_s"]


STOPPED_BY = {code: name for name, code in SIGNAL_EXIT.items()}


def how_it_ended(err: Exception) -> str:
    """A failed child run in words: a run stopped by a signal did not crash, and the same
    command carries it on."""
    if isinstance(err, NotStarted):
        return (f"not started: the benchmark was stopped by {Signals(-err.returncode).name}; "
                f"the same command runs it")
    signal = STOPPED_BY.get(getattr(err, "returncode", None))
    if signal:
        return (f"stopped by {signal} (exit {err.returncode}); the same command carries it "
                f"on from its last checkpoint")
    return f"crashed ({err})"


def check_run_folder(run_dir: Path, overrides: list[str]) -> None:
    """Stop, before anything trains, if run_dir holds a run with other settings than these
    overrides give (a run asked only for more steps than it has may train on)."""
    if not (run_dir / "config.yaml").exists():
        return
    differ = settings_not_held(run_dir, overrides)
    if set(differ) == {"steps"} and differ["steps"][1] > differ["steps"][0]:
        return
    if differ:
        shown = "; ".join(f"{key}: {held} there, {asked} asked"
                          for key, (held, asked) in differ.items())
        raise SystemExit(f"{run_dir} holds a run with other settings ({shown}); give this "
                         f"benchmark another --out, or move that folder away")


def settings_not_held(run_dir: Path, overrides: list[str]) -> dict[str, tuple]:
    """Each setting (dotted key) in which the run saved in run_dir differs from a run with
    these overrides: (its value there, the value asked); how runs are carried out
    (agent.config.RUN_KEYS) is left out."""
    return changed_settings(trained_settings(run_dir),
                            flatten(dataclasses.asdict(load_config(overrides))))


def trained_settings(run_dir: Path) -> dict:
    """The settings of the run saved in run_dir (its config.yaml), flattened."""
    return flatten(saved_settings((Path(run_dir) / "config.yaml").read_text()))


def read_metrics(run_dir: Path) -> list[dict]:
    return read_events(Path(run_dir) / METRICS)


def learning_summary(events: list[dict], threshold: float) -> dict:
    """When the eval return first reached the threshold, whether it stayed there, where it ended."""
    evals = [e for e in events if e.get("eval/return") is not None]
    first = next((i for i, e in enumerate(evals) if e["eval/return"] >= threshold), None)
    solved = evals[first] if first is not None else None
    later = evals[first + 1:] if first is not None else []
    return {
        "solve_step": solved["step"] if solved else None,
        "solve_wall_s": solved.get("perf/wall_s") if solved else None,
        # Holding a solution: the share of the evaluations after the first success that
        # also reach the threshold (None when there is none after it).
        "held_fraction": (sum(e["eval/return"] >= threshold for e in later) / len(later)
                          if later else None),
        "final_return": evals[-1]["eval/return"] if evals else None,
        "best_return": max(e["eval/return"] for e in evals) if evals else None,
        "curve": [(e["step"], e["eval/return"]) for e in evals],
    }


def seed_medians(rows: list[dict]) -> dict:
    """The medians over seeds of learning_summary's figures, as the targets read them: a
    seed that never reached the threshold is the slowest and, like one that reached it only
    at its last evaluation, shows no holding; a crashed run has no final return."""
    finals = [r["final_return"] for r in rows if r["final_return"] is not None]
    return {
        "median_solve_step": median_unsolved_last([r["solve_step"] for r in rows]),
        "median_solve_wall_s": median_unsolved_last([r.get("solve_wall_s") for r in rows]),
        "median_held_fraction": (float(np.median([r["held_fraction"] or 0.0 for r in rows]))
                                 if rows else None),
        "median_final_return": float(np.median(finals)) if finals else None,
    }


def last_value(events: list[dict], key: str) -> float | None:
    return next((e[key] for e in reversed(events) if e.get(key) is not None), None)


def fmt(value, digits: int = 0) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def percent(fraction: float | None) -> str:
    return "-" if fraction is None else f"{100 * fraction:.0f}%"


def parse_benchmark_args(parser: argparse.ArgumentParser, default_out: str,
                         print_table, merge=None,
                         print_arms=None) -> argparse.Namespace | None:
    """Add the options every learning benchmark shares (--jobs, --out, --show, and run.py
    overrides) and parse; None when --show printed a saved result instead. With `merge`
    (saved results -> one), --show takes several files and prints one table per arm, then
    `print_arms` of them all where there are several (show_arms)."""
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--out", type=Path, default=ROOT / default_out)
    parser.add_argument("--show", type=Path, nargs="+" if merge else None, metavar="JSON",
                        help="print a saved result"
                        + (" (several: one table per arm)" if merge else ""))
    parser.add_argument("overrides", nargs="*", help="extra run.py overrides")
    args = parser.parse_args()
    if args.show:
        if merge:
            show_arms(load_results(args.show), merge, print_table, print_arms)
        else:
            print_table(json.loads(args.show.read_text()))
        return None
    return args


def load_results(paths: list[Path]) -> list[dict]:
    """Saved results (--show), each run marked with its arm (run_arm). A file named twice
    (overlapping globs) is read once."""
    unique: dict[Path, Path] = {}
    for path in paths:
        unique.setdefault(path.resolve(), path)
    reports = []
    for path in unique.values():
        report = json.loads(path.read_text()) | {"source": str(path)}
        for run in report["runs"]:
            run["arm"] = run_arm(run, report, path)
        reports.append(report)
    return reports


def run_settings(run: dict, report: dict, path: Path) -> dict:
    """What a saved run trained, as flattened settings: kept in the result (`settings`),
    or read from its config.yaml: beside the result when it holds one run (a record), in
    the folder the benchmark trains it in beside the result (<name>-runs/TASK-sSEED), or in
    the run folder it names."""
    if "settings" in run:  # saved before a key existed: that key's default
        return saved_flat_settings(run["settings"])
    places = [path.parent] if len(report["runs"]) == 1 else []
    places.append(path.parent / f"{path.stem}-runs" / f"{run['task']}-s{run['seed']}")
    if run.get("run_dir"):
        places.append(ROOT / run["run_dir"])
    for place in places:
        if (place / "config.yaml").exists():
            return trained_settings(place)
    raise SystemExit(f"error: {path}: cannot tell what {run['task']} seed {run['seed']} "
                     f"trained: no config.yaml in {' or '.join(map(str, places))}; copy "
                     f"that run's config.yaml into {places[0]}")


def run_arm(run: dict, report: dict, path: Path) -> tuple[tuple[str, object], ...]:
    """A saved run's arm: each setting in which it differs from what today's defaults
    train for the same task and seed (the overrides the benchmark gave that run alone).
    Runs of one arm trained the same, whatever overrides named it, and a default changed
    since the run (e.g. a suite's quantizer) puts it in an arm of its own."""
    common = set(report.get("overrides", []))
    own = [o for o in run.get("overrides", []) if o not in common]
    today = flatten(dataclasses.asdict(load_config(own)))
    held = run_settings(run, report, path)
    differ = {key: value for key, (value, _) in changed_settings(held, today).items()}
    # Today's replay capacity is `auto`, which changed_settings never compares; a replay
    # that evicted steps during the run trained otherwise.
    if comparable(held).get("replay.capacity") not in ("whole run", "auto", None):
        differ["replay.capacity"] = held["replay.capacity"]
    return tuple(sorted(differ.items()))


def arm_of(report: dict) -> tuple[tuple[str, object], ...]:
    """The arm of a saved result's runs (load_results marks them); one result is one arm."""
    arms = {tuple(map(tuple, run["arm"])) for run in report["runs"]}
    if len(arms) > 1:
        raise SystemExit(f"error: {report.get('source', 'a result')}: its runs trained "
                         f"different settings ({'; '.join(map(arm_label, arms))}); show "
                         f"them from separate results")
    return arms.pop() if arms else ()


# Config groups whose files each train a named set of settings.
NAMED_GROUPS = ("size", "preset")


@functools.cache
def group_settings(group: str, name: str) -> tuple[dict, dict]:
    """What `group=name` trains: the settings in which it differs from today's defaults,
    found as an arm's are (run keys left out: a preset's `log.every` is not what it trains),
    and every setting its file gives, both flattened."""
    default = flatten(dataclasses.asdict(load_config([])))
    chosen = flatten(dataclasses.asdict(load_config([f"{group}={name}"])))
    text = (ROOT / "configs" / group / f"{name}.yaml").read_text()
    package = re.search(r"^# @package (\S+)", text, re.MULTILINE)
    package = package.group(1) if package else group
    own = yaml.safe_load(text) or {}
    given = flatten(own if package == "_global_" else {package: own})
    differ = {key: held for key, (held, _) in changed_settings(chosen, default).items()}
    return differ, {key: chosen[key] for key in given if key in chosen}


def named_settings(arm: dict) -> dict:
    """An arm's settings with each set that a size or preset file trains given as that
    file's word (`size=xs`, `preset=small_objects`): where the arm holds every setting in
    which the file differs from today's defaults, as the file has it, and no other value of
    a setting the file gives."""
    words, rest = {}, dict(arm)
    for group in NAMED_GROUPS:
        for path in sorted((ROOT / "configs" / group).glob("*.yaml")):
            differ, given = group_settings(group, path.stem)
            if differ and all(key in arm and arm[key] == value
                              for key, value in differ.items()) and all(
                    arm[key] == value for key, value in given.items() if key in arm):
                words[group] = path.stem
                rest = {key: value for key, value in rest.items() if key not in given}
                break
    return words | rest


def arm_label(arm: tuple[tuple[str, object], ...]) -> str:
    """An arm as `key=value` words; another quantizer reads `quantizer=NAME`, with only
    the options that differ from that quantizer's defaults, and the settings of a size or
    preset file `size=NAME` or `preset=NAME`."""
    values = named_settings(dict(arm))
    name = values.get("quantizer.name")
    if name is not None:
        options = dataclasses.asdict(registry.quantizer_class(name).Options())
        defaults = flatten({"quantizer": options})
        values = {key: value for key, value in values.items()
                  if not (key.startswith("quantizer.") and defaults.get(key) == value)}
        values = {"quantizer": name} | values
    def word(value):  # 64.0 as the command line said it, 64
        return int(value) if isinstance(value, float) and value.is_integer() else value

    return (" ".join(f"{key}={word(value)}" for key, value in values.items())
            or "today's defaults")


def show_arms(reports: list[dict], merge, print_table, print_arms=None) -> None:
    """Saved results as one table per arm: runs that trained otherwise (by their saved
    settings, e.g. another quantizer) are another arm, never more seeds. With several arms,
    `print_arms` then gets every arm's (label, merged result), to set them side by side."""
    arms: dict[tuple, list[dict]] = {}
    for report in reports:
        arms.setdefault(arm_of(report), []).append(report)
    merged = []
    for arm, members in arms.items():
        label = arm_label(arm)
        if arm or len(arms) > 1:
            print(f"\n## arm: {label}")
        merged.append((label, merge(members)))
        print_table(merged[-1][1])
    if print_arms is not None and len(merged) > 1:
        print_arms(merged)
