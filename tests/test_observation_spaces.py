"""Vector, image, binary-image and Dict observations: what the agent makes of each space,
resizing, the decoder's shapes, and real training runs on each (pixels from render too)."""

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import gymnasium as gym
import imageio.v3 as iio
import numpy as np
import pytest
import torch

from agent.agent import Agent
from agent.data import Batch
from agent.loop.openloop import open_loop, open_loop_frames, write_open_loop_video
from envs import ObservationSpec, SpaceError
from tests.conftest import small_config

ROOT = Path(__file__).resolve().parents[1]
IMAGE = gym.spaces.Box(0, 255, (37, 53, 3), np.uint8)


def test_each_key_is_routed_by_shape_and_dtype():
    space = gym.spaces.Dict({
        "state": gym.spaces.Box(-1, 1, (5,), np.float32),
        "rgb": IMAGE,
        "gray": gym.spaces.Box(0, 255, (21, 21), np.uint8),
        "minatar": gym.spaces.Box(0, 1, (10, 10, 4), np.bool_)})
    spec = ObservationSpec(space, image_size=32)
    assert spec.vector_keys == ["state"] and spec.image_keys == ["gray", "minatar", "rgb"]
    assert {k: v.shape for k, v in spec.keys.items()} == {
        "state": (5,), "rgb": (3, 32, 32), "gray": (1, 32, 32), "minatar": (4, 32, 32)}


def test_images_are_resized_to_the_configured_size_and_stay_uint8():
    spec = ObservationSpec(IMAGE, image_size=16)
    frames = np.random.default_rng(0).integers(0, 256, (2, 37, 53, 3), dtype=np.uint8)
    out = spec.to_tensors(frames)["obs"]
    assert out.shape == (2, 3, 16, 16) and out.dtype == torch.uint8
    # Shrinking by a whole factor averages each patch: 32 x 32 -> 16 x 16 means 2 x 2 blocks.
    square = ObservationSpec(gym.spaces.Box(0, 255, (32, 32, 3), np.uint8), image_size=16)
    blocks = frames[:, :32, :32].astype(float).reshape(2, 16, 2, 16, 2, 3).mean((2, 4))
    np.testing.assert_allclose(square.to_tensors(frames[:, :32, :32])["obs"].numpy(),
                               np.round(blocks).transpose(0, 3, 1, 2), atol=0.5)
    # Growing interpolates: a constant image stays constant.
    small = ObservationSpec(gym.spaces.Box(0, 255, (8, 8, 1), np.uint8), image_size=16)
    grown = small.to_tensors(np.full((1, 8, 8, 1), 77, np.uint8))["obs"]
    assert grown.shape == (1, 1, 16, 16) and torch.all(grown == 77)
    flat = ObservationSpec(gym.spaces.Box(0, 255, (16, 16, 3), np.uint8), image_size=16)
    assert torch.equal(flat.to_tensors(frames[:, :16, :16])["obs"],
                       torch.as_tensor(frames[:, :16, :16]).permute(0, 3, 1, 2))


def test_flat_makes_every_image_a_vector_of_its_pixels_in_0_1():
    space = gym.spaces.Dict({"board": gym.spaces.Box(0, 1, (10, 10, 4), np.bool_),
                             "gray": gym.spaces.Box(0, 255, (3, 5), np.uint8),
                             "state": gym.spaces.Box(-9, 9, (2,), np.float32)})
    spec = ObservationSpec(space, image_size="flat")
    assert spec.image_keys == [] and {k: v.shape for k, v in spec.keys.items()} == {
        "board": (400,), "gray": (15,), "state": (2,)}
    rng = np.random.default_rng(0)
    board = rng.random((2, 10, 10, 4)) < 0.1
    gray = rng.integers(0, 256, (2, 3, 5), dtype=np.uint8)
    out = spec.to_tensors({"board": board, "gray": gray,
                           "state": np.full((2, 2), -9.0, np.float32)})
    assert out["board"].dtype == torch.float32
    assert torch.equal(out["board"], torch.as_tensor(board.reshape(2, 400), dtype=torch.float32))
    torch.testing.assert_close(out["gray"], torch.as_tensor(gray.reshape(2, 15) / 255.0,
                                                            dtype=torch.float32))
    assert torch.all(out["state"] == -9.0)  # a vector is read as it is


@pytest.mark.parametrize("native, side", [((16, 16), 16), ((32, 32), 32), ((64, 64), 64),
                                          ((128, 128), 64), ((10, 10), 64), ((48, 32), 64),
                                          ((400, 600), 64)])
def test_auto_keeps_a_small_square_image_at_its_own_size_and_resizes_the_rest_to_64(
        native, side):
    space = gym.spaces.Box(0, 255, (*native, 3), np.uint8)
    spec = ObservationSpec(space, image_size="auto")
    assert spec.keys["obs"].shape == (3, side, side)
    frames = np.random.default_rng(0).integers(0, 256, (2, *native, 3), dtype=np.uint8)
    out = spec.to_tensors(frames)["obs"]
    assert out.shape == (2, 3, side, side)
    if native == (side, side):  # kept: the very pixels, not a resampling of them
        assert torch.equal(out, torch.as_tensor(frames).permute(0, 3, 1, 2))


def test_auto_sizes_each_image_of_a_dict_on_its_own_and_a_number_sizes_them_all():
    space = gym.spaces.Dict({"small": gym.spaces.Box(0, 255, (16, 16, 1), np.uint8),
                             "camera": gym.spaces.Box(0, 255, (84, 84, 3), np.uint8),
                             "velocity": gym.spaces.Box(-1, 1, (2,), np.float32)})
    auto = ObservationSpec(space)
    assert auto.keys["small"].shape == (1, 16, 16) and auto.keys["camera"].shape == (3, 64, 64)
    fixed = ObservationSpec(space, image_size=32)
    assert fixed.keys["small"].shape == (1, 32, 32) and fixed.keys["camera"].shape == (3, 32, 32)


def test_a_flipped_view_of_an_image_converts():
    # dm_control's renders are views with a negative row stride.
    frames = np.random.default_rng(0).integers(0, 256, (1, 16, 16, 3), dtype=np.uint8)
    spec = ObservationSpec(gym.spaces.Box(0, 255, (16, 16, 3), np.uint8), image_size=16)
    out = spec.to_tensors(frames[:, ::-1])["obs"]
    assert torch.equal(out, torch.as_tensor(frames[:, ::-1].copy()).permute(0, 3, 1, 2))


def test_binary_images_stay_black_and_white_when_enlarged():
    # MinAtar: 10 x 10 cells, enlarged to 16 x 16 by nearest neighbour.
    spec = ObservationSpec(gym.spaces.Box(0, 1, (10, 10, 2), np.bool_), image_size=16)
    frames = np.zeros((1, 10, 10, 2), bool)
    frames[0, 3, 4, 1] = True
    out = spec.to_tensors(frames)["obs"]
    assert set(out.unique().tolist()) == {0, 255} and out[0, 0].sum() == 0
    rows, cols = torch.nonzero(out[0, 1], as_tuple=True)
    # The cell's block: output pixel i reads input cell floor((i + 0.5) * 10 / 16).
    assert all((r.item() + 0.5) * 10 // 16 == 3 for r in rows)
    assert all((c.item() + 0.5) * 10 // 16 == 4 for c in cols)


def test_resizing_a_board_draws_its_cells_one_or_two_pixels_wide_and_padding_one():
    """MinAtar's 10 x 10 cells in 16 x 16: nearest-neighbour resizing gives some cells two
    pixels and some one, by where they are; env.image_fit=pad keeps each cell one pixel, at
    the centre of an empty canvas."""
    board = gym.spaces.Box(0, 1, (10, 10, 1), np.bool_)
    frames = np.zeros((10, 10, 10, 1), bool)
    for cell in range(10):  # board n lights row n
        frames[cell, cell, :, 0] = True
    resized = ObservationSpec(board, 16).to_tensors(frames)["obs"]
    widths = [int((resized[cell, 0, :, 0] > 0).sum()) for cell in range(10)]
    assert sorted(set(widths)) == [1, 2] and sum(widths) == 16
    padded = ObservationSpec(board, 16, "pad").to_tensors(frames)["obs"]
    assert padded.shape == (10, 1, 16, 16) and padded.dtype == torch.uint8
    for cell in range(10):
        assert torch.nonzero(padded[cell, 0, :, 3] > 0).flatten().tolist() == [3 + cell]
    inside = padded[:, :, 3:13, 3:13]
    assert torch.equal(inside, torch.as_tensor(frames).permute(0, 3, 1, 2).to(torch.uint8) * 255)
    assert padded.sum() == inside.sum()  # the canvas around the board stays empty


def test_cells_and_stored_pixels_map_to_each_other_under_either_fit():
    from envs.observations import cell_pixels, pixel_cells

    for fit in ("resize", "pad"):
        for side in (16, 32):
            pixels = cell_pixels(10, side, fit)
            assert torch.equal(pixel_cells(side, 10, fit)[pixels], torch.arange(10))
    assert pixel_cells(16, 10, "pad").tolist() == [-1] * 3 + list(range(10)) + [-1] * 3
    # an odd margin: the smaller part above (and to the left)
    uneven = ObservationSpec(gym.spaces.Box(0, 255, (11, 11), np.uint8), 16, "pad")
    out = uneven.to_tensors(np.full((1, 11, 11), 7, np.uint8))["obs"][0, 0]
    assert torch.nonzero(out.sum(1)).flatten().tolist() == list(range(2, 13))
    assert pixel_cells(16, 11, "pad")[2] == 0 and cell_pixels(11, 16, "pad")[0] == 2


def test_padding_into_a_canvas_smaller_than_the_image_is_refused_naming_both_sizes():
    space = gym.spaces.Box(0, 255, (20, 20, 3), np.uint8)
    with pytest.raises(SpaceError, match=r"20 x 20 images in a 16 x 16 canvas.*at least 20"):
        ObservationSpec(space, 16, "pad")
    assert ObservationSpec(space, 32, "pad").keys["obs"].shape == (3, 32, 32)
    with pytest.raises(ValueError, match="image_fit='crop': must be one of resize, pad"):
        ObservationSpec(space, 32, "crop")  # not a silent resize


def test_a_one_dimensional_box_of_any_dtype_is_a_vector():
    spec = ObservationSpec(gym.spaces.Box(0, 255, (128,), np.uint8))  # e.g. Atari RAM
    assert spec.vector_keys == ["obs"] and spec.keys["obs"].shape == (128,)
    out = spec.to_tensors(np.arange(256, dtype=np.uint8)[None, :128])["obs"]
    assert out.dtype == torch.float32 and out[0, 127] == 127


def test_a_scalar_box_is_a_vector_of_one_and_float64_is_read_as_float32():
    # DMC walker through shimmy: float64 entries, one of them of shape ().
    space = gym.spaces.Dict({"height": gym.spaces.Box(-np.inf, np.inf, (), np.float64),
                             "velocity": gym.spaces.Box(-np.inf, np.inf, (9,), np.float64)})
    spec = ObservationSpec(space)
    assert {k: v.shape for k, v in spec.keys.items()} == {"height": (1,), "velocity": (9,)}
    obs = {"height": np.array([1.25, -0.5]), "velocity": np.full((2, 9), 1 / 3)}
    out = spec.to_tensors(obs)
    assert out["height"].shape == (2, 1) and out["height"].dtype == torch.float32
    assert out["height"][:, 0].tolist() == [1.25, -0.5]
    assert out["velocity"].dtype == torch.float32 and out["velocity"].shape == (2, 9)
    assert spec.bytes_per_step() == 4 * (1 + 9)


def test_a_dict_with_a_scalar_entry_encodes_and_decodes_through_the_world_model():
    space = gym.spaces.Dict({"height": gym.spaces.Box(-np.inf, np.inf, (), np.float64),
                             "orientations": gym.spaces.Box(-1, 1, (14,), np.float64)})
    spec = ObservationSpec(space)
    wm = Agent(spec, 6, small_config("fsq")).world_model
    raw = {"height": np.linspace(0, 1, 6), "orientations": np.zeros((6, 14))}
    obs = {k: v.reshape(2, 3, *v.shape[1:]) for k, v in spec.to_tensors(raw).items()}
    states = wm.observe(obs, torch.zeros(2, 3, 6), torch.zeros(2, 3))
    feat = wm.feat(states.h, states.quantized.code)
    decoded = wm.decode(feat)
    assert decoded["height"].shape == (2, 3, 1) and decoded["orientations"].shape == (2, 3, 14)
    loss = wm.reconstruction_loss(feat, obs)
    assert loss.shape == (2, 3) and torch.isfinite(loss).all()


@pytest.mark.parametrize("space, named", [
    (gym.spaces.Text(8), "Text"),
    (gym.spaces.Box(-1, 1, (4, 4), np.float32), "Box"),
    (gym.spaces.Discrete(3), "Discrete"),
    (gym.spaces.Dict({"ok": IMAGE, "bad": gym.spaces.Discrete(2)}), "observation key 'bad'"),
])
def test_unsupported_observations_are_named(space, named):
    with pytest.raises(SpaceError,
                       match=f"{named}.* is not supported; supported: a scalar or 1-D Box"):
        ObservationSpec(space)


def test_decoded_observations_have_the_observations_shapes():
    space = gym.spaces.Dict({"state": gym.spaces.Box(-1, 1, (4,), np.float32), "rgb": IMAGE})
    spec = ObservationSpec(space, image_size=32)
    cfg = small_config("fsq")
    cfg.model.cnn_depth = 4
    wm = Agent(spec, 2, cfg).world_model
    obs = {"state": torch.randn(2, 3, 4),
           "rgb": torch.randint(0, 256, (2, 3, 3, 32, 32), dtype=torch.uint8)}
    states = wm.observe(obs, torch.zeros(2, 3, 2), torch.zeros(2, 3))
    decoded = wm.decode(wm.feat(states.h, states.quantized.code))
    assert decoded["state"].shape == (2, 3, 4)
    assert decoded["rgb"].shape == (2, 3, 3, 32, 32) and decoded["rgb"].dtype == torch.uint8
    loss = wm.reconstruction_loss(wm.feat(states.h, states.quantized.code), obs)
    assert loss.shape == (2, 3)
    loss.sum().backward()  # pixels' reconstruction reaches the CNN encoder
    assert wm.image_encoders["rgb"].net[0].weight.grad.abs().sum() > 0


@pytest.mark.parametrize("env_args", [
    ["env.id=tests.custom_env:ImageCartPole-v0"],
    ["env.id=tests.custom_env:DictCartPole-v0"],
    ["env.id=CartPole-v1", "env.obs=pixels"],
], ids=["image-odd-size", "dict", "pixels-from-render"])
def test_training_runs_on_image_and_dict_observations(tmp_path, env_args):
    run_dir = tmp_path / "run"
    result = subprocess.run(
        [sys.executable, str(ROOT / "run.py"), "preset=debug", *env_args, "steps=200",
         "env.image_size=32", "model.cnn_depth=4", "threads=1", "wandb.mode=disabled",
         "log.progress=false", "log.openloop_every=100", f"run_dir={run_dir}"],
        cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    events = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    losses = [v for e in events for k, v in e.items() if k.startswith("loss/")]
    assert losses and all(math.isfinite(v) for v in losses)
    assert any("eval/return" in e for e in events)
    videos = sorted((run_dir / "openloop").glob("*.mp4"))  # open loop of the image key
    assert [p.name.rsplit("-", 1)[-1] for p in videos] == ["0000000100.mp4", "0000000200.mp4"]


def test_open_loop_video_shows_truth_prediction_and_error_per_frame(tmp_path):
    spec = ObservationSpec(IMAGE, image_size=16)
    cfg = small_config("fsq")
    cfg.model.cnn_depth = 4
    wm = Agent(spec, 2, cfg).world_model
    frames = torch.randint(0, 256, (2, 10, 3, 16, 16), dtype=torch.uint8)
    batch = Batch({"obs": frames}, torch.zeros(2, 10, 2), torch.zeros(2, 10),
                  torch.zeros(2, 10), torch.ones(2, 10))
    result = open_loop(wm, batch, context=3)
    video = open_loop_frames(result, "obs")
    assert video.shape == (10, 2 * 16, 3 * 16, 3) and video.dtype == np.uint8
    assert np.array_equal(video[:, :16, :16], frames[0].permute(0, 2, 3, 1).numpy())  # truth
    pred = result.pred_obs["obs"][1].permute(0, 2, 3, 1).numpy()
    assert np.array_equal(video[:, 16:, 16:32], pred)  # second row, middle: prediction
    error = np.abs(frames[1].permute(0, 2, 3, 1).numpy().astype(int) - pred.astype(int))
    assert np.array_equal(video[:, 16:, 32:], error.astype(np.uint8))
    written = iio.imread(write_open_loop_video(result, "obs", tmp_path / "ol.mp4"))
    assert written.shape == (10, 32, 48, 3)


RENDER_CARTPOLE = """
import hashlib, sys
import numpy as np
if sys.argv[1] == "ours":
    from envs import make_env
    env = make_env("CartPole-v1", pixels=True)
else:  # gymnasium's own rendering, SDL left to probe for a display
    import gymnasium as gym
    env = gym.wrappers.AddRenderObservation(gym.make("CartPole-v1", render_mode="rgb_array"),
                                            render_only=True)
digest = hashlib.sha1()
obs, _ = env.reset(seed=0)
for step in range(6):
    digest.update(np.asarray(obs).tobytes())
    obs, *_ = env.step(step % 2)
print(digest.hexdigest())
"""


def test_headless_pygame_renders_print_no_sdl_error_and_keep_their_pixels():
    env = {k: v for k, v in os.environ.items()
           if k not in ("DISPLAY", "WAYLAND_DISPLAY", "SDL_VIDEODRIVER", "XDG_RUNTIME_DIR")}
    ours, plain = (subprocess.run([sys.executable, "-c", RENDER_CARTPOLE, which], cwd=ROOT,
                                  env=env, capture_output=True, text=True, timeout=120)
                   for which in ("ours", "plain"))
    assert ours.returncode == 0 and plain.returncode == 0, ours.stderr + plain.stderr
    assert "XDG_RUNTIME_DIR" not in ours.stderr, ours.stderr
    assert ours.stdout == plain.stdout  # the same frames, byte for byte
