"""Turning bad command lines into one-line errors, before Hydra starts a run."""

import threading

from hydra import compose, initialize_config_dir
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.errors import HydraException, MissingConfigException
from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException

from agent.config import is_run_key
from agent.errors import ConfigError
from agent.loop.checkpoint import CheckpointError
from agent.loop.metrics_file import MetricsError
from agent.validation import check_env_source, validate
from envs import EnvError, SpaceError

UserError = (ConfigError, EnvError, SpaceError, CheckpointError, MetricsError,
             OmegaConfBaseException, HydraException)


def _first_line(text: str) -> str:
    return next((line.strip() for line in str(text).splitlines() if line.strip()), "")


def explain(err: BaseException) -> str:
    """One line that names the problem (and, where known, the fix)."""
    if isinstance(err, MissingConfigException) and err.options is not None:
        group = (err.missing_cfg_file or "").split("/")[0]
        choice = (err.missing_cfg_file or "").split("/")[-1]
        return (f"{group}={choice} is not known; available: {', '.join(sorted(err.options))}")
    cause = err.__cause__ if isinstance(err.__cause__, OmegaConfBaseException) else err
    if isinstance(cause, OmegaConfBaseException):
        key = getattr(cause, "full_key", None)
        message = _first_line(str(cause))
        if "not in" in message and key and key.startswith("env.kwargs."):
            return (f"unknown config key '{key}' ({message}); if the env takes a keyword "
                    f"its config does not list, add it with a leading +: +{key}=VALUE")
        if "not in" in message and key:
            return (f"unknown config key '{key}' ({message}); `python run.py --cfg job` "
                    f"lists every key")
        return f"{key}: {message}" if key else message
    return _first_line(str(err))


MULTIRUN = ("-m", "--multirun")


def check_overrides(config_dir: str, args: list[str]) -> None:
    """Compose and validate the config the command line asks for; a bad one raises one of
    UserError (see `explain`). With -m, every value of each swept key is composed (with the
    first value of the others), so a typo in the fifth quantizer, or a value out of range,
    stops the grid before its first job. Hydra's other flags (--help, --cfg, ...) are left
    to Hydra itself."""
    flags = [arg for arg in args if arg.startswith("-")]
    if any(flag not in MULTIRUN for flag in flags):
        return
    overrides = [arg for arg in args
                 if not arg.startswith("-") and not arg.lstrip("+~").startswith("hydra")]
    if flags:
        check_jobs_at_once(args)
        parsed = OverridesParser.create().parse_overrides(overrides)
        check_grid_keys(parsed)
    for combination in one_value_each(parsed) if flags else [overrides]:
        validate(compose_config(config_dir, combination))


def check_jobs_at_once(args: list[str]) -> None:
    """joblib refuses n_jobs=0 only once the grid launches, with a traceback."""
    for arg in args:
        key, _, value = arg.lstrip("+").partition("=")
        if key == "hydra.launcher.n_jobs" and value.strip() == "0":
            raise ConfigError("hydra.launcher.n_jobs=0 runs no job: give a count, or -1 for "
                              "one job per core (-2 all but one, ...)")


def check_grid_keys(parsed: list) -> None:
    """A job's folder is named by the settings of what it trains (run keys are left out of
    it): a grid must set one, and must not sweep a run key, or its jobs share a folder."""
    for override in parsed:
        if override.is_sweep_override() and is_run_key(override.key_or_group):
            raise ConfigError(f"`{override.input_line}` sweeps a setting of how runs are "
                              f"carried out, which is not part of a job's folder name: its "
                              f"jobs would share one folder; run one sweep per value "
                              f"(sweep=NAME)")
    if not any(not is_run_key(o.key_or_group) for o in parsed):
        raise ConfigError("a multirun (-m) needs at least one setting of what it trains (e.g. "
                          "seed=0 or quantizer=fsq,vq), which names each job's folder")


def one_value_each(parsed: list) -> list[list[str]]:
    """Single-valued command lines that together use every value of every swept key (a
    sweep that cannot be listed before Hydra runs, such as glob(), is left to Hydra)."""
    choices = []
    for override in parsed:
        try:
            values = ([f"{override.get_key_element()}={value}"
                       for value in override.sweep_string_iterator()]
                      if override.is_sweep_override() else [override.input_line])
        except HydraException:
            continue
        choices.append(values)
    first = [values[0] for values in choices]
    return [first] + [first[:i] + [value] + first[i + 1:]
                      for i, values in enumerate(choices) for value in values[1:]]


# Hydra keeps one global instance while it composes: two threads composing at once (a
# benchmark's jobs, say) would find it taken and fail.
_COMPOSING = threading.Lock()


def compose_config(config_dir: str, overrides: list[str]):
    """The typed Config that `python run.py OVERRIDES` trains with (from any thread)."""
    import agent.config  # noqa: F401  (registers the schema)
    import agent.quantizers  # noqa: F401  (registers every quantizer's config)

    with _COMPOSING, initialize_config_dir(config_dir=config_dir, version_base=None):
        composed = compose(config_name="config", overrides=overrides)
    check_env_source(composed.env)  # needs the config before its interpolations resolve
    return OmegaConf.to_object(composed)
