"""env.crop keeps a window of an image observation before it is resized: the window's own
pixels, at the shape the window says, and on CartPole's renders a tilt of the pole shows in
more of the stored pixels than with the whole frame."""

import numpy as np

from envs import ObservationSpec, make_env
from envs.crop import pixel_bounds

BAND = [0.37, 0.83, 0.0, 1.0]  # the rows CartPole's cart and pole are drawn in


def render_at(env, theta: float) -> np.ndarray:
    env.unwrapped.state = np.array([0.0, 0.0, theta, 0.0])
    return env.unwrapped.render()


def test_a_cropped_render_is_the_window_of_the_whole_render():
    whole = make_env("CartPole-v1", pixels=True)
    cropped = make_env("CartPole-v1", pixels=True, crop=BAND)
    obs, _ = cropped.reset(seed=0)
    full, _ = whole.reset(seed=0)
    assert full.shape == (400, 600, 3)
    row0, row1, col0, col1 = pixel_bounds(tuple(BAND), 400, 600)
    assert (row0, row1, col0, col1) == (148, 332, 0, 600)
    assert obs.shape == cropped.observation_space.shape == (184, 600, 3)
    np.testing.assert_array_equal(obs, full[148:332])
    step, *_ = cropped.step(0)
    assert step.shape == (184, 600, 3) and cropped.observation_space.contains(step)


def test_the_band_shows_a_pole_tilt_in_more_stored_pixels():
    env = make_env("CartPole-v1", pixels=True)
    env.reset(seed=0)

    def changed(crop) -> int:
        frames = [render_at(env, theta) for theta in (0.0, 0.05)]
        if crop:
            row0, row1, col0, col1 = pixel_bounds(tuple(crop), 400, 600)
            frames = [f[row0:row1, col0:col1] for f in frames]
        spec = ObservationSpec(make_env("CartPole-v1", pixels=True, crop=crop)
                               .observation_space, image_size=64)
        upright, tilted = (spec.to_tensors(f[None])["obs"][0].float() / 255 for f in frames)
        return int(((upright - tilted).abs().amax(0) > 0.05).sum())

    whole, band = changed(None), changed(BAND)
    assert band >= 2 * whole > 0
