"""Where greedy MinAtar Breakout play loses the ball: could the paddle still have reached it?

    python -m agent.analysis.breakout_check RUN_DIR_OR_CHECKPOINT [--episodes 10]
        [--seed 0] [--trace 0]

Breakout ends when the ball passes the paddle. Each episode is played greedily from the
checkpoint's agent in the run's own env, and the game itself is read at every step: the
paddle's column, the ball's column and row. At each loss this finds the step at which the
ball last turned down (off a brick, the top or a wall on its way up) and asks whether the
paddle, one column a step, could have reached a column that catches the ball from there
(the game bounces the ball off a paddle under its last column or its landing one). A loss
the paddle could have reached is one the actor did not chase; one it could not is one it
did not prepare for while the ball was still on its way up. MinAtar's sticky actions (the
game repeating the previous action instead, 10% of steps) can keep a paddle from where its
actions lead: the losses whose last descent had one are counted, and marked in the trace.
`--trace N` prints each loss's last N steps.
"""

from dataclasses import dataclass

import numpy as np

from agent.agent import Agent
from agent.analysis.greedy_play import GreedyEpisode, play_command
from envs import ActionCodec, ObservationSpec


@dataclass
class Step:
    paddle: int  # the paddle's column
    ball_x: int  # the ball's column
    ball_y: int  # the ball's row (9: the paddle's)
    action: int  # the action the agent chose here (-1 at an episode's last state)
    sticky: bool = False  # the game ran its previous action instead


@dataclass
class Loss:
    steps_left: int   # steps from the ball's last turn down to the loss
    distance: int     # columns from the paddle then to the nearest column that catches
    sticky: bool      # a sticky action came in those steps

    @property
    def reachable(self) -> bool:
        return self.distance <= self.steps_left


def last_descent(steps: list[Step]) -> Loss:
    """A lost episode's states (its last the one the loss left) -> the ball's last turn
    down: from the last state after which the ball only went down, the steps left and the
    paddle's distance to the nearest column that would have caught the ball (the one it
    fell from, or the one it landed in: the paddle moves before the ball in a step)."""
    turn = len(steps) - 1
    while turn > 0 and steps[turn].ball_y > steps[turn - 1].ball_y:
        turn -= 1
    paddle = steps[turn].paddle
    catching = (steps[-2].ball_x, steps[-1].ball_x)
    return Loss(len(steps) - 1 - turn, min(abs(column - paddle) for column in catching),
                any(step.sticky for step in steps[turn:]))


@dataclass
class Episode:
    ret: float
    steps: list[Step]
    lost: bool  # ended by a loss, not the time limit


def play(agent: Agent, codec: ActionCodec, spec: ObservationSpec, seed: int) -> Episode:
    """One greedy episode in the agent's own env, the game read at every step."""
    episode = GreedyEpisode(agent, codec, spec, seed)
    env = episode.env.unwrapped
    game = env.game.env

    def ran_another(step: Step) -> bool:  # called after its step: what the game ran
        return env.action_set.index(env.game.last_action) != step.action

    steps: list[Step] = []
    for chosen in episode:
        if steps:
            steps[-1].sticky = ran_another(steps[-1])
        steps.append(Step(game.pos, game.ball_x, game.ball_y, chosen.action))
    steps[-1].sticky = ran_another(steps[-1])
    steps.append(Step(game.pos, game.ball_x, game.ball_y, -1))
    episode.env.close()
    return Episode(episode.ret, steps, episode.terminated)


@dataclass
class BreakoutCheck:
    episodes: list[Episode]
    trace: int = 0

    def lines(self) -> list[str]:
        returns = [e.ret for e in self.episodes]
        losses = [last_descent(e.steps) for e in self.episodes if e.lost]
        out = [f"{len(returns)} greedy episodes: returns {' '.join(f'{r:g}' for r in returns)}"
               f" (mean {np.mean(returns):.2f}), lengths "
               f"{' '.join(str(len(e.steps) - 1) for e in self.episodes)}"]
        if losses:
            out.append(f"at the {len(losses)} losses, the paddle could still reach a column "
                       f"that catches the ball when it last turned down at "
                       f"{sum(loss.reachable for loss in losses)} (columns away / steps "
                       f"left: {' '.join(f'{x.distance}/{x.steps_left}' for x in losses)}); "
                       f"a sticky action came in the last descent at "
                       f"{sum(loss.sticky for loss in losses)}")
        for i, e in enumerate(self.episodes):
            if self.trace and e.lost:
                out.append(f"episode {i}, its last {self.trace} steps (paddle, ball column, "
                           f"ball row, action chosen; * where the game repeated the previous "
                           f"one): " + " ".join(
                               f"({s.paddle},{s.ball_x},{s.ball_y},{s.action}{'*' * s.sticky})"
                               for s in e.steps[-self.trace:]))
        return out


def check_breakout(agent: Agent, codec: ActionCodec, spec: ObservationSpec,
                   episodes: int = 10, seed: int = 0, trace: int = 0) -> BreakoutCheck:
    if not agent.cfg.env.id.startswith("MinAtar/Breakout"):
        raise SystemExit(f"error: this run's env is {agent.cfg.env.id}, not MinAtar "
                         f"Breakout; run the check on an env=minatar env.game=breakout run")
    return BreakoutCheck([play(agent, codec, spec, seed + i) for i in range(episodes)], trace)


if __name__ == "__main__":
    play_command(__doc__, check_breakout, episodes=10, seed=0, trace=0)
