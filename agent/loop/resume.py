"""Continuing a run from its folder: the saved config plus command-line overrides, and the
plots and videos made after the checkpoint removed."""

import re
from pathlib import Path

import yaml
from omegaconf import OmegaConf

from agent.config import Config, flatten, is_run_key, saved_config
from agent.errors import ConfigError

# Keys whose change would change the shapes of weights or replay, or the env whose
# episodes a checkpoint continues: refused on resume.
SHAPE_KEYS = ("model.", "quantizer", "env.id", "env.game", "env.num_envs", "env.kwargs",
              "env.obs", "env.image_size", "env.action_repeat", "env.time_limit",
              "env.max_pool", "env.crop", "replay.capacity")
GROUPS = ("env", "quantizer", "size", "preset")
# Besides how the run is carried out (agent.config.RUN_KEYS), what may change on resume:
# how long it trains and how it is evaluated.
RESUMABLE_KEYS = ("steps", "eval.")


def resume_config(run_dir: Path, overrides: list[str]) -> tuple[Config, list[str]]:
    """The run's saved config with `key=value` overrides applied; returns it and the
    overrides that were applied."""
    saved = run_dir / "config.yaml"
    if not saved.exists():
        raise ConfigError(f"resume={str(run_dir)!r} is not a run folder (no config.yaml)")
    node = saved_config(saved.read_text())
    applied = []
    for override in overrides:
        key, _, value = override.lstrip("+~").partition("=")
        if key == "resume":
            continue
        if key == "run_dir":
            raise ConfigError(f"`{override}`: a run resumes in its own folder; to continue it "
                              f"elsewhere, copy the folder and resume the copy")
        if key in GROUPS:
            raise ConfigError(f"`{override}` selects a config group; on resume only "
                              f"key=value overrides of the saved config apply")
        before = flatten(OmegaConf.to_container(node))
        OmegaConf.update(node, key, yaml.safe_load(value), merge=True)
        after = flatten(OmegaConf.to_container(node))
        changed = [k for k in sorted(before.keys() | after.keys())
                   if before.get(k) != after.get(k)]  # a dict value changes several
        for changed_key in changed:
            check_resumable(changed_key, before.get(changed_key))
        if changed:
            applied.append(override)
    cfg = OmegaConf.to_object(node)
    cfg.run_dir = str(run_dir)
    return cfg, applied


def check_resumable(key: str, saved) -> None:
    """Refuse a change the steps already trained did not have."""
    if key.startswith(SHAPE_KEYS):
        raise ConfigError(f"`{key}` cannot change on resume: it changes the shape of "
                          f"the model or the replay, or the env the checkpoint continues")
    if not (is_run_key(key) or key.startswith(RESUMABLE_KEYS)):
        raise ConfigError(
            f"`{key}` cannot change on resume: the steps already trained used {saved!r}, "
            f"and the run's config.yaml would no longer say so; start a new run with it. On "
            f"resume only steps, eval.* and how the run is carried out (agent.config."
            f"RUN_KEYS: threads, device, compile, env.vector, log.*, wandb.*, checkpoint.*, "
            f"nan.*) change")



# Diagnostics named by the env step that made them: openloop/openloop-[KEY-]<step>.png|mp4
# and videos/eval-<step>.mp4.
STEP_NAMED_MEDIA = (("openloop", "openloop-*"), ("videos", "eval-*"))


def remove_media_after(run_dir: Path, step: int) -> list[Path]:
    """Delete the plots and videos a stopped run made after its checkpoint, as its metrics
    events are cut: the resumed run makes them again (or, with other log settings, they
    would describe steps that were trained again differently)."""
    removed = []
    for folder, pattern in STEP_NAMED_MEDIA:
        for path in (run_dir / folder).glob(pattern):
            found = re.search(r"-(\d{10})\.\w+$", path.name)
            if found and int(found.group(1)) > step:
                path.unlink()
                removed.append(path)
    return removed
