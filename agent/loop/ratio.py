"""How many updates to run so that replayed steps keep pace with env steps."""


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
