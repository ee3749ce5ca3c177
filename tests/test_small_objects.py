"""`preset=small_objects`: MinAtar's small-object settings as one word."""

from dataclasses import asdict

from agent.config import flatten
from tests.helpers import compose_config

THE_SETTINGS = ("model.image_likelihood=bernoulli", "model.image_decoder_start=mean_frame",
                "model.cnn_min_res=4")


def test_the_preset_sets_the_three_image_settings_and_nothing_else():
    preset = flatten(asdict(compose_config("env=minatar", "preset=small_objects")))
    spelled = flatten(asdict(compose_config("env=minatar", *THE_SETTINGS)))
    plain = flatten(asdict(compose_config("env=minatar")))
    assert preset == spelled
    assert {key for key, value in preset.items() if plain[key] != value} == {
        "model.image_likelihood", "model.image_decoder_start", "model.cnn_min_res"}


def test_a_setting_given_beside_the_preset_wins():
    cfg = compose_config("env=minatar", "preset=small_objects", "model.cnn_min_res=1")
    assert (cfg.model.cnn_min_res, cfg.model.image_likelihood) == (1, "bernoulli")
