"""Settings: small immutable value objects, read from the environment in exactly one place.

``Settings.from_env()`` is the only code that reads ``NEWSFLOW_*`` (and ``KIBANA_*``)
variables, so the CLI, the DAGs, the triggerer, the tests, eval/ and bench/ agree on every
default. Nothing here touches the network.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from pipelines import __version__
from pipelines.errors import ConfigError

PROJECT_ROOT = Path(__file__).resolve().parent.parent  # a checkout's root; only meaningful in a checkout
# Shipped inside the package (package data), so a wheel-installed newsflow finds them too.
DATA_DIR = Path(__file__).resolve().parent / "data"
DEFAULT_FEEDS_CONFIG = DATA_DIR / "feeds.yaml"
DEFAULT_SITEMAPS_CONFIG = DATA_DIR / "sitemaps.yaml"
SAMPLE_ARTICLES = DATA_DIR / "samples" / "articles"

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
ROBOTS_TOKEN = "newsflow"  # the product token robots.txt groups name (``User-agent: newsflow``)
DEFAULT_MAX_CRAWL_DELAY_S = 60.0


def user_agent_for(contact_url: str | None) -> str:
    """The User-Agent: the project, its version and, when configured, where a publisher can reach the operator."""
    contact = f"+{contact_url}; " if contact_url else ""
    return (f"{ROBOTS_TOKEN}/{__version__} ({contact}news feed reader; obeys robots.txt for pages, "
            "conditional GET, honours Retry-After and ttl)")


DEFAULT_USER_AGENT = user_agent_for(None)
DEFAULT_COMPONENTS = ("clean", "extract", "sign", "deduplicate")


def default_state_dir() -> Path:
    """The one state-directory default: beside the code in a checkout (git-ignored), XDG otherwise."""
    if (PROJECT_ROOT / "pyproject.toml").is_file():
        return PROJECT_ROOT / ".state"
    return Path(os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state") / "newsflow"


def usable_cores() -> int:
    """The CPUs this process may run on (its affinity, which containers and taskset narrow)."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _default_cache_dir() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "newsflow"


class _Env:
    """Typed reads of one environment mapping; every error names the variable."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self.environ = environ

    def str(self, name: str, default: str | None = None) -> str | None:
        value = self.environ.get(name)
        return default if value in (None, "") else value

    def int(self, name: str, default: int) -> int:
        raw = self.environ.get(name)
        if raw in (None, ""):
            return default
        try:
            return int(raw)
        except ValueError:
            raise ConfigError(f"{name} must be a whole number, got {raw!r}") from None

    def float(self, name: str, default: float) -> float:
        raw = self.environ.get(name)
        if raw in (None, ""):
            return default
        try:
            value = float(raw)
        except ValueError:
            raise ConfigError(f"{name} must be a number, got {raw!r}") from None
        if value < 0:
            raise ConfigError(f"{name} must not be negative, got {raw!r}")
        return value

    def bool(self, name: str, default: bool) -> bool:
        raw = self.environ.get(name)
        if raw in (None, ""):
            return default
        lowered = raw.strip().lower()
        if lowered in ("1", "true", "yes", "on"):
            return True
        if lowered in ("0", "false", "no", "off"):
            return False
        raise ConfigError(f"{name} must be true or false, got {raw!r}")

    def path(self, name: str, default: Path | None = None) -> Path | None:
        value = self.str(name)
        return Path(value) if value else default


def parse_networks(text: str, *, variable: str = "NEWSFLOW_FEEDS_ALLOW_NETWORKS") -> tuple[IPNetwork, ...]:
    """``"127.0.0.0/8, ::1"`` → networks; raises ConfigError naming the bad entry."""
    networks = []
    for item in filter(None, (part.strip() for part in text.split(","))):
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise ConfigError(f"{variable}: {item!r} is not an IP network") from None
    return tuple(networks)


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
    # How long a run waits for an unreachable cluster to come back before it fails; what was cut
    # off is then done again (every write is an upsert by a stable id). 0: fail at once.
    outage_wait_s: float = 300.0
    # An Airflow Connection that supplies all of the above in Airflow tasks (secrets backends,
    # AIRFLOW_CONN_* variables); the CLI keeps using the variables.
    conn_id: str | None = None

    @property
    def is_external(self) -> bool:
        return self.url is not None

    @property
    def hosts(self) -> tuple[str, ...]:
        """The cluster's nodes: ``NEWSFLOW_ES_URL`` may list several, comma-separated, so the
        client carries on through another node when one is down."""
        return tuple(filter(None, (part.strip() for part in (self.url or "").split(","))))


@dataclass(frozen=True)
class FetchPolicy:
    """Limits and manners for every HTTP request of a run (feeds, sitemaps, article pages)."""

    user_agent: str = DEFAULT_USER_AGENT  # see ``user_agent_for``; NEWSFLOW_CONTACT_URL puts a contact URL in it
    obey_robots: bool = True  # robots.txt for pages and sitemaps (feeds are read like a feed reader: see README)
    max_crawl_delay_s: float = DEFAULT_MAX_CRAWL_DELAY_S  # a longer robots.txt Crawl-delay is honoured as this
    connect_timeout_s: float = 10.0
    read_timeout_s: float = 20.0  # longest wait for any one read
    total_timeout_s: float = 60.0  # the whole fetch, redirects included (not robots.txt or waiting for the host's turn)
    max_bytes: int = 10 * 1024 * 1024
    max_redirects: int = 5
    min_host_interval_s: float = 1.0  # between the starts of two requests to the same host
    max_host_connections: int = 2  # requests in flight to one host at once
    max_connections: int = 32  # requests in flight at once, all hosts together (one run, one process)
    max_retry_after_s: float = 24 * 3600.0  # a Retry-After longer than this is capped
    allowed_networks: tuple[IPNetwork, ...] = ()  # exceptions to the SSRF guard, e.g. 127.0.0.0/8 in tests


@dataclass(frozen=True)
class KibanaSettings:
    """Where Kibana is, for the Airflow extra link and ``newsflow kibana import``."""

    url: str | None = None
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    api_key: str | None = field(default=None, repr=False)


# metric → how far from its baseline it may move before an alert: a fraction of the baseline for
# the first two, an absolute change of the share for the others (0.3 = 30 percentage points).
DEFAULT_HEALTH_THRESHOLDS: dict[str, float] = {
    "median_body_words": 0.5,
    "entities_per_1000_words": 0.5,
    "undated_share": 0.3,
    "boilerplate_share": 0.2,
    "other_language_share": 0.3,
    "deadletter_rate": 0.2,
}


@dataclass(frozen=True)
class HealthSettings:
    """Per-source extraction health: the baseline and when a metric's move is an alert."""

    baseline_days: int = 14  # the baseline is the median of up to this many earlier days with articles
    min_baseline_days: int = 3  # fewer earlier days: no baseline yet, no alerts
    min_articles: int = 3  # a day with fewer articles is recorded but neither judged nor part of a baseline
    thresholds: tuple[tuple[str, float], ...] = tuple(DEFAULT_HEALTH_THRESHOLDS.items())  # pairs: settings stay hashable
    examples: int = 3  # article ids named per alert

    @property
    def threshold_by_metric(self) -> dict[str, float]:
        return dict(self.thresholds)


def parse_thresholds(text: str, variable: str = "NEWSFLOW_HEALTH_THRESHOLDS") -> tuple[tuple[str, float], ...]:
    """``"median_body_words=0.4, undated_share=0.2"`` → the defaults with those replaced."""
    thresholds = dict(DEFAULT_HEALTH_THRESHOLDS)
    for item in filter(None, (part.strip() for part in text.split(","))):
        metric, _, value = item.partition("=")
        metric = metric.strip()
        if metric not in thresholds:
            raise ConfigError(f"{variable}: unknown metric {metric!r}; known: {', '.join(thresholds)}")
        try:
            thresholds[metric] = float(value)
        except ValueError:
            raise ConfigError(f"{variable}: {item!r} needs a number, as in {metric}=0.5") from None
        if thresholds[metric] <= 0:
            raise ConfigError(f"{variable}: the threshold of {metric} must be above 0, got {value!r}")
    return tuple(thresholds.items())


@dataclass(frozen=True)
class Settings:
    """Everything a pipeline run needs to know, resolved once."""

    state_dir: Path
    cache_dir: Path
    elasticsearch: ElasticsearchSettings = field(default_factory=ElasticsearchSettings)
    local_node: LocalNodeSettings = field(default_factory=LocalNodeSettings)
    fetch: FetchPolicy = field(default_factory=FetchPolicy)
    kibana: KibanaSettings = field(default_factory=KibanaSettings)
    health: HealthSettings = field(default_factory=HealthSettings)
    index_prefix: str = "newsflow-"
    sink: str = "elasticsearch"  # or "jsonl:PATH": enriched articles to a file, no cluster needed
    components: tuple[str, ...] = DEFAULT_COMPONENTS  # enrichment components, in order (registry names)
    spacy_model: str = "en_core_web_sm"
    batch_size: int = 64
    workers: int = 1  # processes that clean and extract (0: the calling one); from_env defaults it to the usable cores
    cleaning_config: Path | None = None  # YAML with extra shortcode and boilerplate rules
    max_article_chars: int = 2_000_000  # a longer body is dead-lettered by the cleaner, not cleaned
    max_entries_per_feed: int = 2_000  # entries past this in one feed document are dead-lettered unread
    article_time_budget_s: float = 60.0  # per article and component; over it, the article is dead-lettered
    feeds_config: Path = DEFAULT_FEEDS_CONFIG
    sitemaps_config: Path = DEFAULT_SITEMAPS_CONFIG
    poll_units_per_task: int = 200  # feeds (or sitemaps) per acquisition task and per raw-store write
    feeds_schedule: str | None = "*/15 * * * *"  # cron for news_feeds; None: manual runs only
    sitemaps_schedule: str | None = "0 * * * *"
    inbox_dir: Path | None = None  # None: <state_dir>/inbox
    worker_name: str | None = None  # a Celery worker's own name (newsflow stack), part of its task instances' hostname

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = _Env(os.environ if environ is None else environ)
        state_dir = Path(env.str("NEWSFLOW_STATE_DIR") or default_state_dir()).resolve()
        defaults = FetchPolicy()
        contact_url = env.str("NEWSFLOW_CONTACT_URL")
        if contact_url and not contact_url.startswith(("https://", "http://", "mailto:")):
            raise ConfigError(f"NEWSFLOW_CONTACT_URL must be an http(s):// or mailto: URL, got {contact_url!r}")
        settings = cls(
            state_dir=state_dir,
            cache_dir=Path(env.str("NEWSFLOW_CACHE_DIR") or _default_cache_dir()).resolve(),
            elasticsearch=ElasticsearchSettings(
                url=env.str("NEWSFLOW_ES_URL"),
                username=env.str("NEWSFLOW_ES_USERNAME"),
                password=env.str("NEWSFLOW_ES_PASSWORD"),
                api_key=env.str("NEWSFLOW_ES_API_KEY"),
                verify_certs=env.bool("NEWSFLOW_ES_VERIFY_CERTS", True),
                ca_certs=env.path("NEWSFLOW_ES_CA_CERTS"),
                outage_wait_s=env.float("NEWSFLOW_ES_OUTAGE_WAIT_S", 300.0),
                conn_id=env.str("NEWSFLOW_ES_CONN_ID"),
            ),
            local_node=LocalNodeSettings(
                version=env.str("NEWSFLOW_ES_VERSION"),
                port=env.int("NEWSFLOW_ES_PORT", 9200),
                heap=env.str("NEWSFLOW_ES_HEAP", "1g") or "1g",
                java_home=env.path("NEWSFLOW_JAVA_HOME") or env.path("ES_JAVA_HOME"),
                maven_repository=(env.str("NEWSFLOW_MAVEN_REPOSITORY") or "https://repo1.maven.org/maven2").rstrip("/"),
            ),
            fetch=FetchPolicy(
                user_agent=env.str("NEWSFLOW_FEEDS_USER_AGENT") or user_agent_for(contact_url),
                obey_robots=env.bool("NEWSFLOW_ROBOTS", defaults.obey_robots),
                max_crawl_delay_s=env.float("NEWSFLOW_ROBOTS_MAX_CRAWL_DELAY_S", defaults.max_crawl_delay_s),
                connect_timeout_s=env.float("NEWSFLOW_FEEDS_CONNECT_TIMEOUT_S", defaults.connect_timeout_s),
                read_timeout_s=env.float("NEWSFLOW_FEEDS_READ_TIMEOUT_S", defaults.read_timeout_s),
                total_timeout_s=env.float("NEWSFLOW_FEEDS_TOTAL_TIMEOUT_S", defaults.total_timeout_s),
                max_bytes=int(env.float("NEWSFLOW_FEEDS_MAX_BYTES", defaults.max_bytes)),
                min_host_interval_s=env.float("NEWSFLOW_FEEDS_HOST_INTERVAL_S", defaults.min_host_interval_s),
                max_host_connections=env.int("NEWSFLOW_FEEDS_HOST_CONNECTIONS", defaults.max_host_connections),
                max_connections=env.int("NEWSFLOW_FEEDS_CONNECTIONS", defaults.max_connections),
                allowed_networks=parse_networks(env.str("NEWSFLOW_FEEDS_ALLOW_NETWORKS", "") or ""),
            ),
            kibana=KibanaSettings(
                url=(env.str("KIBANA_URL") or "").strip() or None,
                username=env.str("KIBANA_USERNAME"),
                password=env.str("KIBANA_PASSWORD"),
                api_key=env.str("KIBANA_API_KEY"),
            ),
            health=HealthSettings(
                baseline_days=env.int("NEWSFLOW_HEALTH_BASELINE_DAYS", HealthSettings.baseline_days),
                min_baseline_days=env.int("NEWSFLOW_HEALTH_MIN_BASELINE_DAYS", HealthSettings.min_baseline_days),
                min_articles=env.int("NEWSFLOW_HEALTH_MIN_ARTICLES", HealthSettings.min_articles),
                thresholds=parse_thresholds(env.str("NEWSFLOW_HEALTH_THRESHOLDS", "") or ""),
            ),
            index_prefix=env.environ.get("NEWSFLOW_INDEX_PREFIX", "newsflow-"),
            sink=env.str("NEWSFLOW_SINK", "elasticsearch") or "elasticsearch",
            components=tuple(
                name.strip() for name in (env.str("NEWSFLOW_COMPONENTS") or ",".join(DEFAULT_COMPONENTS)).split(",")
                if name.strip()
            ),
            spacy_model=env.str("NEWSFLOW_SPACY_MODEL", "en_core_web_sm") or "en_core_web_sm",
            batch_size=env.int("NEWSFLOW_BATCH_SIZE", 64),
            # NEWSFLOW_SPACY_N_PROCESS is the older name of the same setting.
            workers=env.int("NEWSFLOW_WORKERS", env.int("NEWSFLOW_SPACY_N_PROCESS", usable_cores())),
            cleaning_config=env.path("NEWSFLOW_CLEANING_CONFIG"),
            max_article_chars=env.int("NEWSFLOW_MAX_ARTICLE_CHARS", 2_000_000),
            max_entries_per_feed=env.int("NEWSFLOW_FEEDS_MAX_ENTRIES", 2_000),
            article_time_budget_s=env.float("NEWSFLOW_ARTICLE_TIME_BUDGET_S", 60.0),
            feeds_config=env.path("NEWSFLOW_FEEDS_CONFIG") or DEFAULT_FEEDS_CONFIG,
            sitemaps_config=env.path("NEWSFLOW_SITEMAPS_CONFIG") or DEFAULT_SITEMAPS_CONFIG,
            poll_units_per_task=env.int("NEWSFLOW_POLL_UNITS_PER_TASK", 200),
            feeds_schedule=_schedule(env.str("NEWSFLOW_FEEDS_SCHEDULE", "*/15 * * * *")),
            sitemaps_schedule=_schedule(env.str("NEWSFLOW_SITEMAPS_SCHEDULE", "0 * * * *")),
            inbox_dir=env.path("NEWSFLOW_INBOX"),
            worker_name=env.str("NEWSFLOW_WORKER_NAME"),
        )
        settings.validate()
        return settings

    def validate(self) -> None:
        es = self.elasticsearch
        for url in es.hosts:
            if not url.startswith(("http://", "https://")):
                raise ConfigError(f"NEWSFLOW_ES_URL must list URLs starting with http:// or https://, got {url!r}")
        if es.password and not es.username:
            raise ConfigError("NEWSFLOW_ES_PASSWORD is set but NEWSFLOW_ES_USERNAME is not")
        if self.batch_size < 1:
            raise ConfigError(f"NEWSFLOW_BATCH_SIZE must be at least 1, got {self.batch_size}")
        if self.max_article_chars < 1:
            raise ConfigError(f"NEWSFLOW_MAX_ARTICLE_CHARS must be at least 1, got {self.max_article_chars}")
        if self.workers < 0:
            raise ConfigError(f"NEWSFLOW_WORKERS must be 0 (extract in the calling process) or more, got {self.workers}")
        for name, value in (("NEWSFLOW_FEEDS_HOST_CONNECTIONS", self.fetch.max_host_connections),
                            ("NEWSFLOW_FEEDS_CONNECTIONS", self.fetch.max_connections),
                            ("NEWSFLOW_POLL_UNITS_PER_TASK", self.poll_units_per_task)):
            if value < 1:
                raise ConfigError(f"{name} must be at least 1, got {value}")
        if self.index_prefix != self.index_prefix.lower() or any(c in self.index_prefix for c in ' "*\\/,|>?<'):
            raise ConfigError(
                f"NEWSFLOW_INDEX_PREFIX must be a lowercase Elasticsearch index name prefix, got {self.index_prefix!r}"
            )
        if not 1 <= self.health.min_baseline_days <= self.health.baseline_days:
            raise ConfigError(
                f"NEWSFLOW_HEALTH_MIN_BASELINE_DAYS must be between 1 and NEWSFLOW_HEALTH_BASELINE_DAYS "
                f"({self.health.baseline_days}), got {self.health.min_baseline_days}"
            )
        if self.sink != "elasticsearch" and not (self.sink.startswith("jsonl:") and len(self.sink) > len("jsonl:")):
            raise ConfigError(f"NEWSFLOW_SINK must be 'elasticsearch' or 'jsonl:PATH', got {self.sink!r}")

    def with_changes(self, **changes: object) -> Settings:
        return replace(self, **changes)  # type: ignore[arg-type]

    @property
    def uses_elasticsearch(self) -> bool:
        """Whether the run needs a cluster: the Elasticsearch sink keeps its raw store there too."""
        return self.sink == "elasticsearch"

    @property
    def local_node_dir(self) -> Path:
        return self.state_dir / "elasticsearch"

    @property
    def airflow_home(self) -> Path:
        return self.state_dir / "airflow"

    @property
    def inbox(self) -> Path:
        return self.inbox_dir or self.state_dir / "inbox"

    @property
    def watch_state_dir(self) -> Path:
        """Where the triggerer's file watcher keeps what it reported."""
        return self.state_dir / "watch"


def _schedule(value: str | None) -> str | None:
    value = (value or "").strip()
    return None if value.lower() in ("", "none") else value
