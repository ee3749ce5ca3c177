"""A training run around the agent: env stepping, replay, train ratio, evaluation,
checkpoints, resume, logging and sweeps."""
