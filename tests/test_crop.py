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


def test_a_thin_window_at_the_edge_keeps_at_least_one_row_and_column():
    assert pixel_bounds((0.96, 1.0, 0.99, 1.0), 10, 10) == (9, 10, 9, 10)  # MinAtar's 10 x 10
    assert pixel_bounds((0.5, 0.51, 0.0, 1.0), 10, 10) == (5, 6, 0, 10)


def test_the_band_shows_a_pole_tilt_in_more_stored_pixels():
    def changed(crop) -> int:
        env = make_env("CartPole-v1", pixels=True, crop=crop)
        env.reset(seed=0)
        spec = ObservationSpec(env.observation_space, image_size=64)
        stored = []
        for theta in (0.0, 0.05):
            frame = render_at(env, theta)
            frame = env.observation(frame) if crop else frame  # the wrapper's own window
            stored.append(spec.to_tensors(frame[None])["obs"][0].float() / 255)
        return int(((stored[0] - stored[1]).abs().amax(0) > 0.05).sum())

    whole, band = changed(None), changed(BAND)
    assert band >= 2 * whole > 0
