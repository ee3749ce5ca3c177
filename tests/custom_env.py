"""Envs that register on import, reached as `env.id=tests.custom_env:Name-v0`."""

import gymnasium as gym


class TextObservationEnv(gym.Env):
    """An env whose observations the agent cannot take."""

    observation_space = gym.spaces.Text(8)
    action_space = gym.spaces.Discrete(2)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return "hello", {}

    def step(self, action):
        return "hello", 0.0, False, False, {}


gym.register("ShortCartPole-v0",
             entry_point="gymnasium.envs.classic_control.cartpole:CartPoleEnv",
             max_episode_steps=5)
# An id with a namespace, as ALE/Pong-v5 and dm_control/walker-walk-v0 have.
gym.register("slashed/ShortCartPole-v0",
             entry_point="gymnasium.envs.classic_control.cartpole:CartPoleEnv",
             max_episode_steps=5)
gym.register("TextObservation-v0", entry_point=TextObservationEnv)


class CrashingCartPole(gym.Wrapper):
    """CartPole that raises on its 30th step: a real crash in the middle of training."""

    def __init__(self):
        super().__init__(gym.make("CartPole-v1"))
        self.steps = 0

    def step(self, action):
        self.steps += 1
        if self.steps == 30:
            raise RuntimeError("the simulator fell over")
        return self.env.step(action)


gym.register("Crashing-v0", entry_point=CrashingCartPole)


class NaNCartPole(gym.Wrapper):
    """CartPole whose observations turn to NaN after 150 steps: a broken sensor."""

    def __init__(self):
        super().__init__(gym.make("CartPole-v1"))
        self.steps = 0

    def step(self, action):
        self.steps += 1
        obs, reward, terminated, truncated, info = self.env.step(action)
        if self.steps > 150:
            obs = obs * float("nan")
        return obs, reward, terminated, truncated, info


gym.register("NaNCartPole-v0", entry_point=NaNCartPole)


class StrictBoundsPendulum(gym.Wrapper):
    """Pendulum that raises on an action outside its Box (Pendulum itself clips quietly)."""

    def __init__(self, **kwargs):
        super().__init__(gym.make("Pendulum-v1", **kwargs))

    def step(self, action):
        if not self.action_space.contains(action):
            raise ValueError(f"action {action} outside {self.action_space}")
        return self.env.step(action)


gym.register("StrictBoundsPendulum-v0", entry_point=StrictBoundsPendulum)


class TwoKnobCartPole(gym.Wrapper):
    """CartPole driven through a MultiDiscrete([2, 3]) action: the first knob pushes, the
    second does nothing."""

    def __init__(self):
        super().__init__(gym.make("CartPole-v1"))
        self.action_space = gym.spaces.MultiDiscrete([2, 3])

    def step(self, action):
        if not self.action_space.contains(action):
            raise ValueError(f"action {action} outside {self.action_space}")
        return self.env.step(int(action[0]))


gym.register("TwoKnobCartPole-v0", entry_point=TwoKnobCartPole)


class DictActionCartPole(gym.Wrapper):
    """An action space the agent does not take."""

    def __init__(self):
        super().__init__(gym.make("CartPole-v1"))
        self.action_space = gym.spaces.Dict({"push": gym.spaces.Discrete(2)})


gym.register("DictAction-v0", entry_point=DictActionCartPole)


def _picture(state, height: int, width: int, channels: int | None):
    """A uint8 picture of a CartPole state: a bright column where the cart is, its
    brightness following the pole's angle."""
    import numpy as np

    image = np.zeros((height, width), np.uint8)
    column = int(np.clip((state[0] + 2.4) / 4.8, 0, 0.999) * width)
    image[:, column] = int(np.clip(128 + 500 * state[2], 0, 255))
    return image if channels is None else np.repeat(image[..., None], channels, -1)


class ImageCartPole(gym.ObservationWrapper):
    """CartPole seen as an odd-sized RGB image (37 x 53 x 3)."""

    def __init__(self):
        super().__init__(gym.make("CartPole-v1"))
        self.observation_space = gym.spaces.Box(0, 255, (37, 53, 3), "uint8")

    def observation(self, observation):
        return _picture(observation, 37, 53, 3)


class DictCartPole(gym.ObservationWrapper):
    """CartPole as a Dict: the state vector and a grayscale (H, W) camera image."""

    def __init__(self):
        super().__init__(gym.make("CartPole-v1"))
        self.observation_space = gym.spaces.Dict({
            "state": self.env.observation_space,
            "camera": gym.spaces.Box(0, 255, (30, 30), "uint8")})

    def observation(self, observation):
        return {"state": observation, "camera": _picture(observation, 30, 30, None)}


gym.register("ImageCartPole-v0", entry_point=ImageCartPole)
gym.register("DictCartPole-v0", entry_point=DictCartPole)
