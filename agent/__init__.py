"""A discrete-latent world-model agent: encoder, quantizer, code-space dynamics, actor-critic."""
