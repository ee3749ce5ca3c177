"""Summarise an ablation: per arm (quantizer and other swept settings, seeds pooled) the
final return with IQM and 95% stratified-bootstrap confidence intervals (rliable), steps to
a threshold, area under the learning curve, codebook health and wall time.

    python run.py report=sweeps/NAME        (or: python -m agent.analysis.report sweeps/NAME)

Writes report.md, curves.png and codebook.png into the sweep folder.
"""

import json
import sys
from dataclasses import dataclass
from pathlib import Path

import gymnasium as gym
import numpy as np

from agent.analysis.figures import write_figures
from agent.config import (
    Config,
    comparable,
    flatten,
    is_run_key,
    override_key,
    refuse_unused,
    saved_settings,
)
from agent.errors import ConfigError
from agent.loop.metrics_file import METRICS, MetricsError, read_events
from agent.loop.openloop_errors import HORIZONS
from agent.loop.sweep import ERROR, REFUSED, SUMMARY
from agent.quantizers import registry

# The world model's open-loop errors (agent/loop/openloop_errors.py), last logged value.
OPEN_LOOP = tuple(f"openloop_{name}_h{h}" for name in ("reward_mae", "obs_mse")
                  for h in HORIZONS)
# Below this many runs an arm's percentile-bootstrap interval is near its runs' range.
FEW_RUNS = 5
# Settings that must match for a fair comparison unless they are what is being swept.
FAIRNESS_KEYS = ("env.id", "env.action_repeat", "steps", "model.deter", "model.units",
                 "model.layers", "train.train_ratio", "train.batch_size", "train.seq_len")


@dataclass
class RunRecord:
    path: Path
    config: dict  # flattened: {"quantizer.name": "fsq", ...}
    events: list[dict]
    finished: bool
    error: str | None  # why the run cannot be used: "crashed: ...", "cannot be read: ..."

    @property
    def x_key(self) -> str:
        """Curves and thresholds count env frames where actions repeat (as published DMC
        and Atari scores do; metrics.jsonl logs both), agent steps otherwise."""
        return "frames" if int(self.config.get("env.action_repeat") or 1) > 1 else "step"

    def series(self, key: str) -> list[tuple[int, float]]:
        return [(e[self.x_key], e[key]) for e in self.events if e.get(key) is not None]

    def last(self, key: str) -> float | None:
        values = self.series(key)
        return values[-1][1] if values else None


def load_runs(sweep_dir: Path) -> list[RunRecord]:
    runs = []
    for config_file in sorted(sweep_dir.glob("*/config.yaml")):
        path = config_file.parent
        if ".unfinished-" in path.name:
            continue
        error = (f"crashed: {(path / ERROR).read_text().splitlines()[0]}"
                 if (path / ERROR).exists() else None)
        try:
            events = read_events(path / METRICS)
        except MetricsError as err:  # listed among the unusable runs, not a failed report
            events = []
            error = "; ".join(filter(None, [error, f"cannot be read: {err}"]))
        config = comparable(flatten(saved_settings(config_file.read_text())))
        runs.append(RunRecord(path, config, events, (path / SUMMARY).exists(), error))
    return runs


def crashed_at_start(sweep_dir: Path) -> list[str]:
    """Job folders holding only the line of a job refused, or the error of one crashed,
    before its run wrote its config (a folder set aside by a later launch is not this
    sweep's any more)."""
    found = []
    for folder in sorted(p for p in sweep_dir.iterdir()
                         if p.is_dir() and ".unfinished-" not in p.name):
        if (folder / "config.yaml").exists():
            continue
        for name, what in ((REFUSED, "was refused"), (ERROR, "crashed before it started")):
            if (folder / name).exists():
                first = ((folder / name).read_text().splitlines() or ["(no message)"])[0]
                found.append(f"`{folder.name}` {what}: {first}")
    return found


def arm_labels(runs: list[RunRecord]) -> list[str]:
    """An arm is what differs between runs other than the seed: the quantizer's name, plus
    any other key that differs among runs (quantizer options only within one quantizer)."""
    keys = sorted({k for r in runs for k in r.config})
    differing = [k for k in keys if k != "seed" and not is_run_key(k)
                 and len({str(r.config.get(k)) for r in runs}) > 1]
    labels = []
    for run in runs:
        name = run.config.get("quantizer.name", "?")
        same_quantizer = [r for r in runs if r.config.get("quantizer.name") == name]
        parts = [name] + [
            f"{k}={run.config.get(k)}" for k in differing if k != "quantizer.name"
            and (not k.startswith("quantizer.")
                 or len({str(r.config.get(k)) for r in same_quantizer}) > 1)]
        labels.append(" ".join(parts))
    return labels


def check_distinct_seeds(arms: dict[str, list[RunRecord]], sweep_dir: Path) -> None:
    """An arm's runs are its seeds: the same seed twice (a grid run again with another
    run-only setting, such as threads, in its folder names) would count one seed twice."""
    for label, runs in arms.items():
        by_seed: dict = {}
        for run in runs:
            by_seed.setdefault(run.config.get("seed"), []).append(run.path.name)
        for seed, names in by_seed.items():
            if len(names) > 1:
                raise ConfigError(f"arm `{label}` holds seed {seed} {len(names)} times "
                                  f"({', '.join(names)}), and would count it as that many "
                                  f"seeds; move all but one out of {sweep_dir}")


def fairness_warnings(runs: list[RunRecord]) -> list[str]:
    warnings = []
    for key in FAIRNESS_KEYS:
        values = sorted({str(r.config.get(key)) for r in runs})
        if len(values) > 1:
            warnings.append(f"runs differ in `{key}` ({', '.join(values)}): the comparison is "
                            f"only fair if that is what the ablation sweeps")
    return warnings


def steps_to_threshold(run: RunRecord, threshold: float) -> int | None:
    return next((s for s, v in run.series("eval/return") if v >= threshold), None)


def median_unsolved_last(values: list) -> float | None:
    """Median where an unsolved run (None) counts as slower than every solved one: an arm
    that solved once in three is not faster than one that solved three times."""
    if not values:
        return None
    mid = float(np.median([np.inf if v is None else v for v in values]))
    return None if mid == np.inf else mid


def area_under_curve(run: RunRecord) -> float | None:
    """Mean eval return over the x axis (env steps or frames): trapezoid area / span."""
    curve = run.series("eval/return")
    if len(curve) < 2:
        return curve[0][1] if curve else None
    steps, values = np.array(curve, dtype=float).T
    return float(np.trapezoid(values, steps) / (steps[-1] - steps[0]))


def interval_estimates(scores: dict[str, np.ndarray], seed: int = 0) -> dict[str, dict]:
    """Mean and IQM with 95% stratified-bootstrap CIs, per arm (rliable)."""
    from rliable import library as rly
    from rliable import metrics

    def aggregate(x):
        return np.array([metrics.aggregate_mean(x), metrics.aggregate_iqm(x)])

    saved = np.random.get_state()
    np.random.seed(seed)  # rliable bootstraps from numpy's global generator
    try:
        points, intervals = rly.get_interval_estimates(scores, aggregate, reps=2000)
    finally:
        np.random.set_state(saved)
    return {arm: {"mean": points[arm][0], "iqm": points[arm][1],
                  "mean_ci": intervals[arm][:, 0], "iqm_ci": intervals[arm][:, 1]}
            for arm in scores}


def threshold_for(runs: list[RunRecord], cfg: Config | None) -> float | None:
    if cfg is not None and cfg.report_threshold is not None:
        return cfg.report_threshold
    env_id = runs[0].config.get("env.id")
    try:
        return gym.spec(env_id).reward_threshold
    except Exception:  # an id that registers on import, or none at all
        return None


def _fmt(value, digits=1) -> str:
    return "–" if value is None or not np.isfinite(value) else f"{value:.{digits}f}"


def arm_rows(arms: dict[str, list[RunRecord]], threshold: float | None) -> list[dict]:
    scores = {arm: np.array([[r.last("eval/return")] for r in rs])
              for arm, rs in arms.items() if all(r.last("eval/return") is not None for r in rs)}
    estimates = interval_estimates(scores) if scores else {}
    rows = []
    for arm, rs in arms.items():
        solve = [steps_to_threshold(r, threshold) for r in rs] if threshold is not None else []
        reached = [s for s in solve if s is not None]
        est = estimates.get(arm)
        rows.append({
            "arm": arm, "runs": len(rs),
            "final_mean": est["mean"] if est else None,
            "final_mean_ci": list(est["mean_ci"]) if est else None,
            "final_iqm": est["iqm"] if est else None,
            "final_iqm_ci": list(est["iqm_ci"]) if est else None,
            "steps_to_threshold": median_unsolved_last(solve),
            "reached": len(reached),
            "auc": _mean([area_under_curve(r) for r in rs]),
            "perplexity_frac": _codebook_mean(rs, "quant/perplexity_frac"),
            "dead_codes": _codebook_mean(rs, "quant/dead_codes"),
            "wall_s": _mean([r.last("perf/wall_s") for r in rs]),
            **{key: _mean([r.last(f"model/{key}") for r in rs]) for key in OPEN_LOOP},
        })
    return rows


def _codebook_mean(runs: list[RunRecord], key: str) -> float | None:
    """The mean of a codebook statistic, or None for quantizers without a codebook."""
    return _mean([r.last(key) for r in runs if _has_codebook(r.config.get("quantizer.name"))])


def _has_codebook(name: str | None) -> bool:
    """Unknown names (a quantizer not imported here) count as having one."""
    return name not in registry.available() or registry.quantizer_class(name).has_codebook


def _mean(values: list) -> float | None:
    values = [v for v in values if v is not None]
    return float(np.mean(values)) if values else None


def x_label(runs: list[RunRecord]) -> str:
    return "env frames" if any(r.x_key == "frames" for r in runs) else "env steps"


def markdown(rows: list[dict], threshold: float | None, problems: list[str],
             warnings: list[str], sweep_dir: Path, x: str = "env steps") -> str:
    # Without a threshold (report_threshold) there is no time-to-threshold column.
    t = _fmt(threshold, 0) if threshold is not None else None
    to_threshold = f" {x} to {t} (median; reached) |" if t else ""
    lines = [f"# Ablation report: {sweep_dir.name}", "",
             f"Final eval return = the last evaluation of each run; CIs are 95% stratified "
             f"bootstrap (rliable, 2000 resamples). Threshold: {t or '(none)'}.", "",
             f"| arm | runs | final return mean [95% CI] | final return IQM [95% CI] "
             f"|{to_threshold} AUC (mean return over {x.removeprefix('env ')}) "
             f"| perplexity / K | dead codes | wall s |",
             "|---|---|---|---|" + "---|" * (5 if t else 4)]
    for r in rows:
        def ci(key, r=r):
            return (f"{_fmt(r[key])} [{_fmt(r[key + '_ci'][0])}, {_fmt(r[key + '_ci'][1])}]"
                    if r[key] is not None else "–")
        attempted = r.get("attempted", r["runs"])
        runs = f"{r['runs']} of {attempted}" if attempted > r["runs"] else f"{r['runs']}"
        reached = (f" {_fmt(r['steps_to_threshold'], 0)} ({r['reached']}/{r['runs']}) |"
                   if t else "")
        lines.append(
            f"| {r['arm']} | {runs} | {ci('final_mean')} | {ci('final_iqm')} |{reached}"
            f" {_fmt(r['auc'])} | {_fmt(r['perplexity_frac'], 3)} | {_fmt(r['dead_codes'])} "
            f"| {_fmt(r['wall_s'], 0)} |")
    if any(r["runs"] < FEW_RUNS for r in rows):
        lines += ["", f"With fewer than {FEW_RUNS} runs an arm's bootstrap interval is about "
                  f"the range of its runs (lowest to highest), which covers less than 95%, "
                  f"and the IQM of 3 runs or fewer is their mean: for a claim, more seeds."]
    if any(r.get("attempted", r["runs"]) > r["runs"] for r in rows):
        lines += ["", "`k of n` runs: the arm's statistics stand on the k runs that finished; "
                  "the others are listed below."]
    lines += open_loop_table(rows)
    if problems:
        lines += ["", "## Missing or crashed runs", ""] + [f"- {p}" for p in problems]
    if warnings:
        lines += ["", "## Fairness warnings", ""] + [f"- {w}" for w in warnings]
    return "\n".join(lines) + "\n"


def open_loop_table(rows: list[dict]) -> list[str]:
    """The second table: how well each arm's world model predicts open loop, h steps
    after an observed context (the last value each run logged, mean over runs)."""
    if all(r[key] is None for r in rows for key in OPEN_LOOP):
        return []
    heads = " | ".join(f"{what} h{h}" for what in ("reward MAE", "obs MSE") for h in HORIZONS)
    lines = ["", "## World model, open loop (last logged, mean over runs)", "",
             f"| arm | {heads} |", "|---|" + "---|" * len(OPEN_LOOP)]
    for r in rows:
        lines.append(f"| {r['arm']} | " + " | ".join(_fmt(r[k], 3) for k in OPEN_LOOP) + " |")
    return lines


def log_to_wandb(rows: list[dict], figures: list[Path], sweep_dir: Path, cfg: Config) -> None:
    import wandb

    run = wandb.init(project=cfg.wandb.project, entity=cfg.wandb.entity,
                     group=cfg.wandb.group or sweep_dir.name, job_type="report",
                     name=f"report-{sweep_dir.name}", dir=str(sweep_dir), mode=cfg.wandb.mode,
                     reinit="finish_previous")
    columns = [k for k in rows[0] if not k.endswith("_ci")]
    table = wandb.Table(columns=columns, data=[[r[c] for c in columns] for r in rows])
    run.log({"report/table": table,
             **{f"report/{p.stem}": wandb.Image(str(p)) for p in figures}})
    run.finish()


def check_report_overrides(overrides: list[str]) -> None:
    """Refuse a setting that report= would otherwise ignore without a word: a report reads
    the runs as they trained, so only how it is drawn and logged applies."""
    refuse_unused(overrides, ("report", "wandb.", "hydra"),
                  "report=: it reads the runs as they trained; report_threshold, "
                  "report_reference and report_reference_label shape it (wandb.* logs it)")
    keys = [override_key(o) for o in overrides]
    if "report_reference_label" in keys and "report_reference" not in keys:
        raise ConfigError("report_reference_label names the line report_reference=VALUE "
                          "draws; give report_reference too")


def write_report(sweep_dir: Path, cfg: Config | None = None) -> Path:
    if not sweep_dir.is_dir():
        raise ConfigError(f"report={sweep_dir} is not a folder")
    runs = load_runs(sweep_dir)
    if not runs:
        unstarted = crashed_at_start(sweep_dir)
        raise ConfigError(f"report={sweep_dir} holds no runs (no */config.yaml)"
                          + (f"; {len(unstarted)} jobs did not start, e.g. {unstarted[0]}"
                             if unstarted else ""))
    problems = [f"`{r.path.name}` {r.error}" if r.error else
                f"`{r.path.name}` did not finish (no {SUMMARY})"
                for r in runs if r.error or not r.finished] + crashed_at_start(sweep_dir)
    usable = [r for r in runs if r.finished and not r.error]
    # Arms are labelled over every run, so an arm's row can say how many of its runs
    # it stands on: a quantizer that diverged on two seeds of five shows "3 of 5".
    arms: dict[str, list[RunRecord]] = {}
    attempted: dict[str, int] = {}
    for run, label in zip(runs, arm_labels(runs), strict=True):
        attempted[label] = attempted.get(label, 0) + 1
        if run.finished and not run.error:
            arms.setdefault(label, []).append(run)
    check_distinct_seeds(arms, sweep_dir)
    threshold = threshold_for(runs, cfg)
    rows = [row | {"attempted": attempted[row["arm"]]} for row in arm_rows(arms, threshold)]
    reference = ((cfg.report_reference_label, cfg.report_reference)
                 if cfg is not None and cfg.report_reference is not None else None)
    x = x_label(usable)
    figures = write_figures(arms, sweep_dir, reference, x)
    report = sweep_dir / "report.md"
    text = markdown(rows, threshold, problems, fairness_warnings(usable), sweep_dir, x)
    if reference is not None:
        text += (f"\nReference ({reference[0]}): {_fmt(reference[1])}, the dashed line in "
                 f"curves.png.\n")
    report.write_text(text)
    (sweep_dir / "report.json").write_text(json.dumps(rows, indent=1, default=float))
    if cfg is not None and cfg.wandb.mode != "disabled" and rows:
        log_to_wandb(rows, figures, sweep_dir, cfg)
    print(report.read_text())
    return report


if __name__ == "__main__":
    try:
        write_report(Path(sys.argv[1]))
    except ConfigError as err:
        sys.exit(f"error: {err}")
