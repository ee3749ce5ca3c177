"""The per-window summary of a run's metrics: window edges, what is averaged and left out,
and the command on a real run's metrics file and on bad input."""

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from agent.analysis.windows import window_means

ROOT = Path(__file__).resolve().parents[1]
RECORDED = ROOT / "docs/results/minatar/breakout-s0/metrics.jsonl"  # a real 100k-step run


def test_each_event_counts_in_the_window_that_ends_at_or_after_its_step():
    events = [{"step": 10, "a": 1.0}, {"step": 20, "a": 3.0, "b": 7.0},
              {"step": 21, "a": 5.0, "b": None}, {"step": 40, "a": math.nan, "b": 2.0},
              {"step": 65, "c": 1.0}]
    assert window_means(events, 20, ["a", "b"]) == [
        (20, {"a": 2.0, "b": 7.0}), (40, {"a": 5.0, "b": 2.0})]  # null and NaN left out
    # with another x key (env frames) the same events fall in other windows
    framed = [dict(e, frames=2 * e["step"]) for e in events]
    assert window_means(framed, 40, ["a"], x_key="frames") == [(40, {"a": 2.0}),
                                                               (80, {"a": 5.0})]


def test_training_returns_and_lengths_are_means_over_episodes_not_over_events():
    # one event closes three episodes of return 1, the next one episode of return 5
    events = [{"step": 10, "train/episodes_finished": 3.0, "train/return": 1.0,
               "train/length": 10.0, "loss/dyn": 4.0},
              {"step": 20, "train/episodes_finished": 1.0, "train/return": 5.0,
               "train/length": 30.0, "loss/dyn": 8.0},
              {"step": 30, "train/episodes_finished": 0.0, "loss/dyn": 6.0}]
    ((end, means),) = window_means(events, 30, ["train/return", "train/length", "loss/dyn"])
    assert end == 30
    assert means == {"train/return": 2.0, "train/length": 15.0, "loss/dyn": 6.0}


def test_a_window_that_is_not_positive_is_refused():
    with pytest.raises(ValueError, match="positive"):
        window_means([{"step": 1, "a": 1.0}], 0, ["a"])


def windows(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "agent.analysis.windows", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)


def cells(line: str) -> list[str]:
    return [cell.strip() for cell in line.strip().strip("|").split("|")]


def test_the_command_prints_a_row_per_window_of_a_recorded_run(tmp_path):
    (tmp_path / "metrics.jsonl").write_bytes(RECORDED.read_bytes())
    result = windows(str(tmp_path), "--every", "20000")
    assert result.returncode == 0, result.stderr
    header, _, *body = [cells(line) for line in result.stdout.splitlines()]
    assert header[0] == "env steps" and "eval/return" in header
    assert [row[0] for row in body] == ["20,000", "40,000", "60,000", "80,000", "100,000"]
    evals = {e["step"]: e["eval/return"] for e in map(json.loads, RECORDED.read_text().splitlines())
             if "eval/return" in e}
    last = float(body[-1][header.index("eval/return")])
    assert last == pytest.approx((evals[90_000] + evals[100_000]) / 2, abs=0.006)  # 3 digits


def test_frames_count_env_frames_where_actions_repeat(tmp_path):
    events = [{"step": s, "frames": 2 * s, "eval/return": float(s)} for s in (50, 100, 150)]
    (tmp_path / "metrics.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events))
    result = windows(str(tmp_path), "--every", "200", "--frames", "--keys", "eval/return")
    assert result.returncode == 0, result.stderr
    header, _, *body = [cells(line) for line in result.stdout.splitlines()]
    assert header == ["env frames", "eval/return"]
    assert body == [["200", "75"], ["400", "150"]]  # frames 100, 200 | 300


def test_frames_are_refused_for_a_run_that_never_logged_them(tmp_path):
    (tmp_path / "metrics.jsonl").write_text('{"step": 10, "eval/return": 1.0}\n')
    result = windows(str(tmp_path), "--frames")
    assert result.returncode != 0 and "logs no env frames" in result.stderr


def test_a_key_the_run_never_logged_is_named_with_the_keys_it_did(tmp_path):
    (tmp_path / "metrics.jsonl").write_bytes(RECORDED.read_bytes())
    result = windows(str(tmp_path), "--keys", "train/return", "train/retrun")
    assert result.returncode != 0
    assert "logs no train/retrun" in result.stderr and "train/return" in result.stderr


@pytest.mark.parametrize("content, args, message", [
    (None, [], "give a run folder"),                       # no metrics.jsonl there
    ("", [], "holds no events"),
    ('{"step": 1}\nnot json\n{"step": 2}\n', [], "line 2"),  # a damaged line, named
    ('{"step": 1, "eval/return": 1.0}\n', ["--every", "0"], "--every must be a positive number"),
])
def test_bad_input_stops_with_one_line_that_names_it(tmp_path, content, args, message):
    if content is not None:
        (tmp_path / "metrics.jsonl").write_text(content)
    result = windows(str(tmp_path), *args)
    assert result.returncode == 2 and message in result.stderr
    assert "Traceback" not in result.stderr
