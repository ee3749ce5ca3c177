"""When things happen in a run: how many updates keep pace with env steps, and whether a
periodic event (evaluation, log, checkpoint, ...) is due."""


class Ratio:
    """updates / env steps = train_ratio / (batch_size * seq_len), counted from the start
    of training; fractional updates carry over."""

    def __init__(self, train_ratio: float, batch_size: int, seq_len: int):
        self.per_step = train_ratio / (batch_size * seq_len)
        self.done = 0

    def __call__(self, env_steps: int) -> int:
        """Updates due now, given env steps since training started."""
        due = int(env_steps * self.per_step) - self.done
        self.done += max(due, 0)
        return max(due, 0)

    def state_dict(self) -> dict:
        return {"done": self.done}

    def load_state_dict(self, state: dict) -> None:
        self.done = state["done"]


class Every:
    """Due once each time a counter reaches or passes a multiple of `every` (0: never).

        Every(500): counter 499 -> False, 500 -> True, 501 -> False, 1003 -> True
    Counters may jump by more than one (several envs step at once); a jump over several
    multiples is one event."""

    def __init__(self, every: int):
        self.every = every
        self.last = 0  # the counter when it was last asked

    def __call__(self, counter: int) -> bool:
        last, self.last = self.last, counter
        return self.every > 0 and counter // self.every > last // self.every

    def state_dict(self) -> dict:
        return {"last": self.last}

    def load_state_dict(self, state: dict) -> None:
        self.last = state["last"]
