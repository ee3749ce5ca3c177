"""`env=cartpole_pixels`: CartPole-v1 from its renders with the settings that learn it, as
one config, and a real run of it on rendered frames."""

import math
from dataclasses import asdict

import torch
import yaml

from tests.helpers import compose_config, smoke_run


def test_the_config_sets_the_pixel_settings_and_leaves_the_default_pixel_run_alone():
    tuned = compose_config("env=cartpole_pixels")
    plain = compose_config("env.obs=pixels")
    assert (tuned.env.id, tuned.env.obs, tuned.env.name) == ("CartPole-v1", "pixels",
                                                              "cartpole-pixels")
    assert tuned.quantizer.name == "categorical"
    assert (tuned.model.overshoot, tuned.model.image_decoder_start,
            tuned.train.train_ratio) == (5, "mean_frame", 128)
    assert tuned.model.terminal_weight == plain.model.terminal_weight == 10
    assert plain.quantizer.name == "fsq"
    assert (plain.model.overshoot, plain.model.image_decoder_start,
            plain.train.train_ratio) == (0, "random", 256)
    # Nothing else differs from the default pixel run.
    tuned_settings, plain_settings = flat(tuned), flat(plain)
    differ = {key for key, value in tuned_settings.items() if plain_settings.get(key) != value}
    assert differ == {"env.name", "quantizer", "model.overshoot", "model.image_decoder_start",
                      "train.train_ratio"}
    # A setting given on the command line still wins.
    assert compose_config("env=cartpole_pixels", "quantizer=fsq").quantizer.name == "fsq"
    undone = compose_config("env=cartpole_pixels", "model.image_decoder_start=random")
    assert undone.model.image_decoder_start == "random"


def test_a_short_run_trains_from_renders_with_the_decoder_started_at_the_mean_frame(tmp_path):
    events = smoke_run(tmp_path, "env=cartpole_pixels")
    losses = [v for e in events for k, v in e.items() if k.startswith("loss/")]
    assert losses and all(math.isfinite(v) for v in losses)
    assert any("loss/overshoot" in e for e in events)
    run_dir = tmp_path / "run"
    saved = yaml.safe_load((run_dir / "config.yaml").read_text())
    assert saved["quantizer"]["name"] == "categorical"
    assert saved["model"]["image_decoder_start"] == "mean_frame"
    (checkpoint,) = sorted((run_dir / "checkpoints").glob("*.pt"))[-1:]
    state = torch.load(checkpoint, weights_only=False)["agent"]
    (mean_frame,) = [v for k, v in state.items() if k.endswith("mean_frame")]
    # A CartPole frame is mostly white background: so is the mean frame it starts from.
    assert mean_frame.shape == (3, 32, 32)
    assert (mean_frame > 0.4).float().mean() > 0.8


def flat(cfg) -> dict:
    """Every setting as "section.key": value; the quantizer's options count as one."""
    settings = {}
    for section, values in asdict(cfg).items():
        if isinstance(values, dict) and section != "quantizer":
            settings.update({f"{section}.{key}": value for key, value in values.items()})
        else:
            settings[section] = values
    return settings
