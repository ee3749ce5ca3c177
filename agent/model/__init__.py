"""The world model: encoder, quantizer, sequence model, prior over codes, and the heads."""
