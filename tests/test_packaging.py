"""The package stands on its own: every import declared, its data shipped, its version printable.

No wheel is built here; the package-data globs are checked against the files they must carry.
"""

from __future__ import annotations

import ast
import importlib.metadata
import re
import sys
import tomllib
from pathlib import Path

import pytest

from pipelines import __version__
from pipelines.cli import main
from pipelines.settings import DATA_DIR, SAMPLE_ARTICLES, Settings

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "pipelines"
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def _normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _requirement_name(requirement: str) -> str:
    return _normalized(re.split(r"[<>=!~;\[ ]", requirement, maxsplit=1)[0])


def _third_party_imports() -> dict[str, set[str]]:
    """Top-level module → the files of ``pipelines/`` importing it (stdlib and ``pipelines`` left out)."""
    found: dict[str, set[str]] = {}
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                modules = [node.module]
            else:
                continue
            for module in modules:
                top = module.split(".")[0]
                if top != "pipelines" and top not in sys.stdlib_module_names:
                    found.setdefault(top, set()).add(str(path.relative_to(ROOT)))
    return found


def _declared_distributions() -> set[str]:
    """The declared dependencies; a meta-package (no modules of its own, like ``apache-airflow``)
    stands for the distributions it requires directly."""
    declared = {_requirement_name(requirement) for requirement in PYPROJECT["project"]["dependencies"]}
    for name in list(declared):
        distribution = importlib.metadata.distribution(name)
        if not any(str(file).endswith(".py") for file in distribution.files or ()):
            declared |= {_requirement_name(r) for r in distribution.requires or () if "extra ==" not in r}
    return declared


def test_every_third_party_import_is_a_declared_dependency():
    providers = importlib.metadata.packages_distributions()
    declared = _declared_distributions()
    undeclared = {
        module: sorted(files)
        for module, files in _third_party_imports().items()
        if not declared & {_normalized(name) for name in providers.get(module, [module])}
    }
    assert undeclared == {}


def test_the_default_lists_and_the_samples_are_package_data():
    globs = PYPROJECT["tool"]["setuptools"]["package-data"]["pipelines"]
    shipped = {path for pattern in globs for path in PACKAGE.glob(pattern) if path.is_file()}
    settings = Settings(state_dir=Path("/nonexistent"), cache_dir=Path("/nonexistent"))

    assert settings.feeds_config in shipped and settings.sitemaps_config in shipped
    samples = {path for path in SAMPLE_ARTICLES.rglob("*") if path.is_file()}
    assert len(samples) == 11 and samples <= shipped
    assert shipped == {path for path in DATA_DIR.rglob("*") if path.is_file()}


def test_the_version_is_written_once_and_newsflow_prints_it(capsys):
    assert PYPROJECT["project"]["dynamic"] == ["version"]
    assert PYPROJECT["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "pipelines.__version__"}

    with pytest.raises(SystemExit) as exited:
        main(["--version"])

    assert exited.value.code == 0
    assert capsys.readouterr().out == f"newsflow {__version__}\n"
