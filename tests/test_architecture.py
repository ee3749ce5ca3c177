"""The import rules of the layout (README, Architecture): parts import only downward."""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# Lower layers never import higher ones; a part may import its own layer and any below.
LAYERS = [
    ("envs",),
    ("agent.errors", "agent.data", "agent.distributions", "agent.seeds", "agent.compiling"),
    ("agent.quantizers",),
    ("agent.config", "agent.validation"),
    ("agent.model",),
    ("agent.behavior",),
    ("agent.optim", "agent.agent"),
    ("agent.loop",),
    ("agent.analysis",),
]


def layer_of(module: str) -> int | None:
    for rank, prefixes in enumerate(LAYERS):
        if any(module == p or module.startswith(p + ".") for p in prefixes):
            return rank
    return None


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def project_imports(path: Path) -> set[str]:
    """Every module of the project that `path` imports, at the top or inside a function."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found |= {f"{node.module}.{alias.name}" for alias in node.names}
    return {m for m in found if layer_of(m) is not None}


# Every module but the package's own (empty) __init__.
SOURCES = sorted(p for p in [*ROOT.joinpath("agent").rglob("*.py"),
                             *ROOT.joinpath("envs").rglob("*.py")]
                 if p != ROOT / "agent" / "__init__.py")


def test_every_module_has_a_layer():
    assert [p for p in SOURCES if layer_of(module_name(p)) is None] == []


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: module_name(p))
def test_nothing_imports_upward(path):
    own = layer_of(module_name(path))
    upward = sorted(m for m in project_imports(path) if layer_of(m) > own)
    assert upward == [], f"{module_name(path)} imports a higher layer: {upward}"


def test_envs_import_nothing_of_the_agent():
    for path in ROOT.joinpath("envs").rglob("*.py"):
        assert not any(m.startswith("agent") for m in project_imports(path)), path


def test_the_model_never_imports_the_loop():
    for path in ROOT.joinpath("agent", "model").rglob("*.py"):
        assert not any(m.startswith(("agent.loop", "agent.behavior", "agent.agent"))
                       for m in project_imports(path)), path


def test_importing_any_quantizer_leaves_hydra_omegaconf_and_the_schema_out():
    modules = sorted(p.stem for p in ROOT.joinpath("agent", "quantizers").glob("*.py")
                     if p.stem != "__init__")
    code = "\n".join([
        "import sys",
        *(f"import agent.quantizers.{m}" for m in modules),
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('hydra', 'omegaconf')"
        " or m.startswith(('agent.config', 'agent.validation', 'agent.model', 'agent.loop')))",
        "print(bad)",
    ])
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
