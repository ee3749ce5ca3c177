"""Env suites whose ids exist only after their package registers them: MinAtar and Atari.
Both are optional extras; an id of a suite whose package is missing gets a message with
the install command."""

import gymnasium as gym

from envs.errors import EnvError

SUITES = {  # id prefix -> (package to import, extra that installs it)
    "MinAtar/": ("minatar", "minatar"),
    "ALE/": ("ale_py", "atari"),
}


def exactly_restorable(env_id: str) -> bool:
    """Whether replaying an episode's actions rebuilds its state (envs/replayable.py): not
    for these suites, whose emulators keep random state of their own (sticky actions)."""
    return not any(env_id.startswith(prefix) for prefix in SUITES)


def register_suite(env_id: str) -> None:
    """Import and register the suite `env_id` belongs to, if any (once per process)."""
    for prefix, (package, extra) in SUITES.items():
        if env_id.startswith(prefix):
            try:
                module = __import__(package)
            except ModuleNotFoundError:
                raise EnvError(f"env.id={env_id!r} needs the {package} package: "
                               f"pip install -e '.[{extra}]'") from None
            if env_id not in gym.registry:
                if package == "minatar":
                    from minatar.gym import register_envs
                    register_envs()
                else:
                    gym.register_envs(module)
