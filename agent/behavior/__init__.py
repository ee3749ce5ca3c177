"""Behaviour learned in imagination: rollouts in code space, the actor-critic, its policies
and returns."""
