"""Settings: small immutable value objects read from the environment.

Nothing here touches the network. ``Settings.from_env()`` is the one place that reads
``NEWSFLOW_*`` variables, so the CLI, the DAGs and the tests agree on every default.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from pipelines.errors import ConfigError

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def _default_state_dir() -> Path:
    # In a checkout, state lives beside the code (git-ignored); an installed package uses XDG.
    if (PROJECT_ROOT / "pyproject.toml").is_file():
        return PROJECT_ROOT / ".state"
    return Path(os.environ.get("XDG_STATE_HOME", Path.home() / ".local" / "state")) / "newsflow"


def _default_cache_dir() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "newsflow"


def _int(environ: Mapping[str, str], name: str, default: int) -> int:
    raw = environ.get(name)
    if raw in (None, ""):
        return default
    try:
        return int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, got {raw!r}") from None


def _bool(environ: Mapping[str, str], name: str, default: bool) -> bool:
    raw = environ.get(name)
    if raw in (None, ""):
        return default
    lowered = raw.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{name} must be true or false, got {raw!r}")


@dataclass(frozen=True)
class LocalNodeSettings:
    """How the embedded single-node Elasticsearch is fetched and run."""

    version: str | None = None  # None: newest known version that runs on an installed JDK
    port: int = 9200
    heap: str = "1g"
    java_home: Path | None = None
    maven_repository: str = "https://repo1.maven.org/maven2"
    startup_timeout_s: float = 180.0


@dataclass(frozen=True)
class ElasticsearchSettings:
    """Where to find Elasticsearch. With no ``url`` the embedded local node is used."""

    url: str | None = None
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    api_key: str | None = field(default=None, repr=False)
    verify_certs: bool = True
    ca_certs: Path | None = None
    request_timeout_s: float = 60.0

    @property
    def is_external(self) -> bool:
        return self.url is not None


@dataclass(frozen=True)
class Settings:
    """Everything a pipeline run needs to know, resolved once."""

    state_dir: Path
    cache_dir: Path
    elasticsearch: ElasticsearchSettings
    local_node: LocalNodeSettings
    index_prefix: str = "newsflow-"
    spacy_model: str = "en_core_web_sm"
    batch_size: int = 64
    spacy_n_process: int = 1  # spaCy worker processes per extraction stage

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        java_home = env.get("NEWSFLOW_JAVA_HOME") or env.get("ES_JAVA_HOME")
        ca_certs = env.get("NEWSFLOW_ES_CA_CERTS")
        settings = cls(
            state_dir=Path(env.get("NEWSFLOW_STATE_DIR") or _default_state_dir()).resolve(),
            cache_dir=Path(env.get("NEWSFLOW_CACHE_DIR") or _default_cache_dir()).resolve(),
            elasticsearch=ElasticsearchSettings(
                url=env.get("NEWSFLOW_ES_URL") or None,
                username=env.get("NEWSFLOW_ES_USERNAME") or None,
                password=env.get("NEWSFLOW_ES_PASSWORD") or None,
                api_key=env.get("NEWSFLOW_ES_API_KEY") or None,
                verify_certs=_bool(env, "NEWSFLOW_ES_VERIFY_CERTS", True),
                ca_certs=Path(ca_certs) if ca_certs else None,
            ),
            local_node=LocalNodeSettings(
                version=env.get("NEWSFLOW_ES_VERSION") or None,
                port=_int(env, "NEWSFLOW_ES_PORT", 9200),
                heap=env.get("NEWSFLOW_ES_HEAP") or "1g",
                java_home=Path(java_home) if java_home else None,
                maven_repository=(
                    env.get("NEWSFLOW_MAVEN_REPOSITORY") or "https://repo1.maven.org/maven2"
                ).rstrip("/"),
            ),
            index_prefix=env.get("NEWSFLOW_INDEX_PREFIX", "newsflow-"),
            spacy_model=env.get("NEWSFLOW_SPACY_MODEL") or "en_core_web_sm",
            batch_size=_int(env, "NEWSFLOW_BATCH_SIZE", 64),
            spacy_n_process=_int(env, "NEWSFLOW_SPACY_N_PROCESS", 1),
        )
        settings.validate()
        return settings

    def validate(self) -> None:
        es = self.elasticsearch
        if es.url and not es.url.startswith(("http://", "https://")):
            raise ConfigError(f"NEWSFLOW_ES_URL must start with http:// or https://, got {es.url!r}")
        if es.password and not es.username:
            raise ConfigError("NEWSFLOW_ES_PASSWORD is set but NEWSFLOW_ES_USERNAME is not")
        if self.batch_size < 1:
            raise ConfigError(f"NEWSFLOW_BATCH_SIZE must be at least 1, got {self.batch_size}")
        if self.spacy_n_process < 1:
            raise ConfigError(f"NEWSFLOW_SPACY_N_PROCESS must be at least 1, got {self.spacy_n_process}")
        if self.index_prefix != self.index_prefix.lower() or any(c in self.index_prefix for c in ' "*\\/,|>?<'):
            raise ConfigError(
                f"NEWSFLOW_INDEX_PREFIX must be a lowercase Elasticsearch index name prefix, got {self.index_prefix!r}"
            )

    def with_changes(self, **changes: object) -> Settings:
        return replace(self, **changes)  # type: ignore[arg-type]

    @property
    def local_node_dir(self) -> Path:
        return self.state_dir / "elasticsearch"

    @property
    def airflow_home(self) -> Path:
        return self.state_dir / "airflow"
