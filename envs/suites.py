"""Env suites that live in optional extras: MinAtar, Atari, DeepMind Control (through shimmy)
and gymnasium's MuJoCo tasks. The first three register their ids only when their package is
imported; an id of a suite whose package is missing gets a message with the install command."""

import warnings
from collections.abc import Callable
from dataclasses import dataclass

import gymnasium as gym

from envs.errors import EnvError


def _register_minatar(_module) -> None:
    from minatar.gym import register_envs

    register_envs()


def _registered_on_import(_module) -> None:
    """shimmy registers the dm_control/<domain>-<task>-v0 ids when it is imported."""


@dataclass(frozen=True)
class Suite:
    packages: tuple[str, ...]
    """Imported in this order; the last one's module is passed to `register`."""
    extra: str
    """The optional dependency group that installs them: pip install -e '.[extra]'."""
    exactly_restorable: bool
    """Whether replaying an episode's actions rebuilds its state (envs/replayable.py)."""
    register: Callable[[object], None] = _registered_on_import


SUITES = {  # id prefix -> suite
    # Their emulators keep random state of their own (sticky actions): not restorable.
    "MinAtar/": Suite(("minatar",), "minatar", False, _register_minatar),
    "ALE/": Suite(("ale_py",), "atari", False, gym.register_envs),
    # Deterministic physics; a task draws only from its RandomState, which is restored.
    "dm_control/": Suite(("dm_control", "shimmy"), "dmc", True),
}
GYMNASIUM_MUJOCO = Suite(("mujoco",), "mujoco", True)


def dmc_env_id(task: str) -> str:
    """DreamerV3's task names to shimmy's ids: walker_walk -> dm_control/walker-walk-v0.
    The domain is the part before the first underscore, except for the domains whose names
    have one (ball_in_cup_catch, point_mass_easy, humanoid_CMU_run)."""
    for domain in ("ball_in_cup", "point_mass", "humanoid_CMU"):
        if task.startswith(domain + "_"):
            return f"dm_control/{domain}-{task[len(domain) + 1:]}-v0"
    domain, _, name = task.partition("_")
    return f"dm_control/{domain}-{name}-v0"


def suite_of(env_id: str) -> Suite | None:
    for prefix, suite in SUITES.items():
        if env_id.startswith(prefix):
            return suite
    spec = gym.registry.get(env_id)
    entry = spec.entry_point if spec is not None else None
    if isinstance(entry, str) and entry.startswith("gymnasium.envs.mujoco"):
        return GYMNASIUM_MUJOCO
    return None


def exactly_restorable(env_id: str) -> bool:
    """Whether replaying an episode's actions rebuilds its state (envs/replayable.py)."""
    suite = suite_of(env_id)
    return suite is None or suite.exactly_restorable


def register_suite(env_id: str) -> None:
    """Import and register the suite `env_id` belongs to, if any (once per process)."""
    suite = suite_of(env_id)
    if suite is None:
        return
    for package in suite.packages:
        try:
            with warnings.catch_warnings():
                # GLFW, imported by MuJoCo's renderers, warns when there is no display;
                # envs that render headless use EGL (envs/rendering.py).
                warnings.filterwarnings("ignore", message=".*DISPLAY environment variable")
                module = __import__(package)
        except ModuleNotFoundError:
            raise EnvError(f"env.id={env_id!r} needs the {package} package: "
                           f"pip install -e '.[{suite.extra}]'") from None
    if env_id not in gym.registry:
        suite.register(module)
