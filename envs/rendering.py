"""Headless rendering: MuJoCo envs (DeepMind Control, gymnasium's MuJoCo tasks) and
pygame's (gymnasium's classic control and Box2D tasks).

MuJoCo picks its OpenGL backend from MUJOCO_GL; without a display only EGL (Mesa's software
EGL where there is no GPU) or OSMesa can render. dm_control reads MUJOCO_GL once, when it is
first imported, so the default (egl, unless the user set one) is chosen before that import,
and only for envs that render: a run without rendering leaves the variable alone.

pygame draws rgb_array frames in memory, but SDL still probes for a display when pygame
starts and, on a machine without one, prints "error: XDG_RUNTIME_DIR is invalid or not set"
(which reads like a failure of the run). Without a display, SDL is told to use its dummy
driver, which probes nothing; the frames are the same bytes.
"""

import os
import sys

from envs.errors import EnvError
from envs.suites import GYMNASIUM_MUJOCO, SUITES, suite_of


def prepare_rendering(env_id: str) -> None:
    """Call before making an env that renders (pixels, videos)."""
    headless = not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    if headless:
        os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
    suite = suite_of(env_id)
    if suite not in (SUITES["dm_control/"], GYMNASIUM_MUJOCO) or os.environ.get("MUJOCO_GL"):
        return
    dm_control_chose = "dm_control._render" in sys.modules  # imported without MUJOCO_GL
    if suite is SUITES["dm_control/"] and dm_control_chose:
        if os.environ.get("DISPLAY"):
            return  # it chose GLFW, which renders with a display
        raise EnvError(f"env.id={env_id!r} cannot render: dm_control was imported earlier in "
                       f"this process without rendering and chose GLFW, which needs a "
                       f"display; start with MUJOCO_GL=egl")
    os.environ["MUJOCO_GL"] = "egl"
