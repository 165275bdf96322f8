"""The environment every Airflow process of this project runs with.

One function builds it, so ``newsflow airflow …``, ``newsflow demo`` and the tests all run
Airflow with the repository's ``airflow.cfg``, state under ``.state/airflow`` and the
venv's ``airflow`` first on PATH (Airflow launches ``airflow`` subprocesses from PATH).
"""

from __future__ import annotations

import os
import secrets
import sys
from collections.abc import Mapping
from pathlib import Path

from pipelines.settings import PROJECT_ROOT, Settings


def stored_secret(path: Path) -> str:
    """A secret generated once and kept in the state directory (mode 0600), never in the repo."""
    if path.is_file():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(value)
    return value


def airflow_environment(settings: Settings, base: Mapping[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ if base is None else base)
    home = settings.airflow_home
    home.mkdir(parents=True, exist_ok=True)
    venv_bin = str(Path(sys.executable).parent)
    env.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW_CONFIG": str(PROJECT_ROOT / "airflow.cfg"),
            "NEWSFLOW_PROJECT_ROOT": str(PROJECT_ROOT),
            "NEWSFLOW_STATE_DIR": str(settings.state_dir),
            "AIRFLOW__API_AUTH__JWT_SECRET": stored_secret(home / "jwt_secret"),
            "AIRFLOW__API__SECRET_KEY": stored_secret(home / "api_secret_key"),
            "PATH": venv_bin + os.pathsep + env.get("PATH", ""),
        }
    )
    return env


def prepare_airflow(settings: Settings, env: dict[str, str] | None = None) -> dict[str, str]:
    """Migrate the metadata database and create the pools the DAGs use; returns the environment
    (``env``, when given, is a complete Airflow environment such as ``newsflow stack``'s)."""
    import subprocess

    from pipelines.orchestration.airflow import ES_POOL, ES_POOL_SLOTS

    env = env or airflow_environment(settings)
    airflow = str(Path(sys.executable).with_name("airflow"))
    subprocess.run([airflow, "db", "migrate"], env=env, check=True, stdout=subprocess.DEVNULL)
    subprocess.run(
        [airflow, "pools", "set", ES_POOL, str(ES_POOL_SLOTS), "Bulk writers against Elasticsearch (newsflow)"],
        env=env, check=True, stdout=subprocess.DEVNULL,
    )
    return env
