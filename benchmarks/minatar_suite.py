"""MinAtar's five games against DQN's figures at 100k and 1M env steps. (Not named
minatar.py: on the benchmarks' path that would hide the minatar package.)

    python benchmarks/minatar_suite.py [--games breakout asterix ...] [--seeds 0]
                                       [--steps 100000] [--eval-every 10000] [--jobs 2]
                                       [key=value ...]
    python benchmarks/minatar_suite.py --show benchmarks/results/minatar.json [more.json ...]

Each run is `env=minatar env.game=GAME` (pip install -e ".[minatar]"; MinAtar has no frame
skip, so env steps are frames; the MinAtar config's quantizer is categorical, `quantizer=fsq`
runs the CPU default's) for --steps env steps, with a greedy eval over 10 episodes
(the config's eval.episodes) every --eval-every steps. Extra key=value overrides go to every
run (e.g. `train.train_ratio=64`; `preset=debug` to try the script). With --jobs N, N runs
train at a time with one torch thread each. Runs train in <out>-runs/GAME-sSEED/ beside the
JSON: the same command again reuses finished runs and resumes interrupted ones from their
latest checkpoint.

Prints, per game, our final greedy eval return and our training return (the episodes that
ended in the last 10% of the run), means and medians over seeds, beside a uniform random
policy's return (100 episodes, measured here: benchmarks/random_policy.py) and DQN's at 100k
and 1M env steps (benchmarks/reference_scores.json: training returns read from the MinAtar
paper's curves, about ±10%), and on how many games each of our medians over seeds reaches
each of DQN's (one bad or lucky seed moves a mean; with an even count of seeds the median is
the mean of the middle two). A mark with ≈ is within that ±10% of DQN's figure. --show prints
saved results again, several as one table, or one per arm where what their runs trained
differs (each run's saved settings against today's defaults: an fsq record made when fsq was
MinAtar's default is its own arm), then the arms side by side: each game's medians in a column
per arm, and on how many games each arm's training median reaches DQN's figures.
"""

import argparse
import statistics

from common import fmt, load_config, parse_benchmark_args
from random_policy import baseline_returns
from reference import reference_value
from suite_runs import eval_kind, merge_reports, run_grid, save_report, task_stats

GAMES = ["breakout", "asterix", "freeway", "seaquest", "space_invaders"]
DQN_BUDGETS = (100_000, 1_000_000)
BUDGET_NAMES = {100_000: "100k", 1_000_000: "1M"}
OURS = (("median", "eval"), ("train_median", "training"))  # summary key, name
READING_ERROR = 0.1  # DQN's figures are read from the paper's curves to about ±10%


RANDOM_EPISODES = 100


def random_return(game: str) -> float:
    """A uniform random policy's mean return in the game (MinAtar's sticky actions, the
    config's time limit), over RANDOM_EPISODES episodes from seed 0."""
    return statistics.mean(baseline_returns(["env=minatar", f"env.game={game}"],
                                          RANDOM_EPISODES))


def summarise(runs: list[dict], games: list[str], frames: int,
              known_random: dict[str, float] | None = None) -> dict:
    """Per game: our final eval and last training return over seeds (means and medians), a
    random policy's return (measured unless `known_random` has it), and DQN's figures."""
    summary, known_random = {}, known_random or {}
    for game in games:
        trains = [r["final_train_return"] for r in runs
                  if r["task"] == game and r.get("final_train_return") is not None]
        summary[game] = task_stats(runs, game) | {
            "train_mean": statistics.mean(trains) if trains else None,
            "train_median": statistics.median(trains) if trains else None,
            "random": known_random[game] if game in known_random else random_return(game),
            "dqn": {str(b): reference_value("minatar", game, b, agent="dqn")
                    for b in DQN_BUDGETS}}
    return summary


def merge(reports: list[dict]) -> dict:
    """Saved results made one game at a time, as one table (the random policy's returns
    they saved are reused)."""
    known = {game: s["random"] for r in reports for game, s in r.get("summary", {}).items()
             if s.get("random") is not None}
    return merge_reports(reports, GAMES, ("frames", "eval_episodes", "eval_greedy"),
                         lambda runs, games, frames: summarise(runs, games, frames, known))


def reaches(ours: float | None, theirs: float | None) -> bool | None:
    return None if ours is None or theirs is None else ours >= theirs


def mark(ours: float | None, theirs: float | None) -> str:
    """yes or no for reaching DQN's figure, with ≈ where the gap is within the error of
    reading that figure from the paper's curve."""
    hit = reaches(ours, theirs)
    if hit is None:
        return "-"
    word = "yes" if hit else "no"
    return f"≈{word}" if abs(ours - theirs) < READING_ERROR * abs(theirs) else word


def print_table(report: dict) -> None:
    frames, summary = report["frames"], report["summary"]
    print(f"\nMinAtar, {frames:,} env steps: our final {eval_kind(report)} eval over "
          f"{report['eval_episodes']} episodes, and our training return (the episodes "
          f"ending in the last 10% of the run); DQN's figures are training returns\n"
          f"| game | seeds | ours: eval (mean ± std) | ours: training (mean) "
          f"| ours, median: eval / training | random policy | DQN 100k | DQN 1M "
          f"| ≥ DQN 100k, medians (eval / training) | ≥ DQN 1M, medians (eval / training) "
          f"| wall s per run |\n"
          f"|---|---|---|---|---|---|---|---|---|---|---|")
    counts = {(budget, key): 0 for budget in DQN_BUDGETS for key, _ in OURS}
    for game, s in summary.items():
        marks = []
        for budget in DQN_BUDGETS:
            theirs = s["dqn"][str(budget)]
            for key, _ in OURS:
                counts[budget, key] += bool(reaches(s[key], theirs))
            marks.append(" / ".join(mark(s[key], theirs) for key, _ in OURS))
        # training returns to 2 decimals: Seaquest's are near DQN's 1.0
        print(f"| {game} | {s['runs']} | {fmt(s['mean'], 1)} ± {fmt(s['std'], 1)} "
              f"| {fmt(s['train_mean'], 2)} | {fmt(s['median'], 1)} / "
              f"{fmt(s['train_median'], 2)} | {fmt(s.get('random'), 2)} "
              f"| {fmt(s['dqn']['100000'], 1)} | {fmt(s['dqn']['1000000'], 1)} "
              f"| {marks[0]} | {marks[1]} | {fmt(s['wall_s'])} |")
    for key, name in OURS:
        print(f"Our {name} return (median over seeds) at least DQN's 100k figure on "
              f"{counts[100_000, key]} of {len(summary)} games, at least its 1M figure on "
              f"{counts[1_000_000, key]}.")
    print(f"≈: within ±{READING_ERROR:.0%} of DQN's figure, the error of reading it from the "
          f"paper's curve.")


def print_arms(arms: list[tuple[str, dict]]) -> None:
    """Every arm's medians over seeds side by side, game by game, and on how many of the
    games it ran each arm's training-return median reaches DQN's figures: the one table
    that compares settings."""
    held = {game for _, merged in arms for game in merged["summary"]}
    games = [g for g in GAMES if g in held] + sorted(held - set(GAMES))
    names = [f"A{i}" for i in range(1, len(arms) + 1)]
    print("\n## The arms side by side\n\nMedians over seeds: training return / final eval "
          "(seeds); DQN's figures are training returns\n"
          f"| game | {' | '.join(names)} | DQN 100k / 1M |\n|---|{'---|' * len(arms)}---|")
    for game in games:
        cells = []
        for _, merged in arms:
            s = merged["summary"].get(game)
            cells.append("not run" if s is None else f"{fmt(s['train_median'], 2)} / "
                         f"{fmt(s['median'], 1)} ({s['runs']})")
        dqn = next(m["summary"][game]["dqn"] for _, m in arms if game in m["summary"])
        print(f"| {game} | {' | '.join(cells)} | {fmt(dqn['100000'], 1)} / "
              f"{fmt(dqn['1000000'], 1)} |")
    for budget in DQN_BUDGETS:
        cells = []
        for _, merged in arms:
            summary = merged["summary"]
            hits = sum(bool(reaches(s["train_median"], s["dqn"][str(budget)]))
                       for s in summary.values())
            cells.append(f"{hits} of {len(summary)}")
        print(f"| training ≥ DQN {BUDGET_NAMES[budget]}: games of those run "
              f"| {' | '.join(cells)} | |")
    for name, (label, _) in zip(names, arms, strict=True):
        print(f"{name}: {label}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--games", nargs="+", default=GAMES, choices=GAMES)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--steps", type=int, default=100_000)
    parser.add_argument("--eval-every", type=int, default=10_000)
    args = parse_benchmark_args(parser, "benchmarks/results/minatar.json", print_table, merge,
                                print_arms)
    if args is None:
        return

    extra = [*args.overrides] + (["threads=1"] if args.jobs > 1 else [])

    def overrides_for(game: str, seed: int) -> list[str]:
        return ["env=minatar", f"env.game={game}", f"seed={seed}", f"steps={args.steps}",
                f"eval.every={args.eval_every}", *extra]

    runs = run_grid(args.jobs, args.out, args.games, args.seeds, overrides_for)
    evaluation = load_config(["env=minatar", *extra]).eval
    save_report(args, {"frames": args.steps, "eval_every": args.eval_every,
                       "eval_episodes": evaluation.episodes, "eval_greedy": evaluation.greedy},
                runs, summarise(runs, args.games, args.steps), print_table)


if __name__ == "__main__":
    main()
