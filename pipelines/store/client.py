"""The Elasticsearch client edge: one place decides which cluster and which credentials.

With ``NEWSFLOW_ES_URL`` set, that cluster is used (basic auth or API key, TLS verified
by default). Otherwise the embedded local node's URL and generated password are read
from the state directory; nothing is started here (``newsflow es start`` does that).

Client 8.x is pinned on purpose: it talks to both 8.x and 9.x servers, while client 9.x
sends ``compatible-with=9`` headers that an 8.x server rejects.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from pipelines.settings import Settings
from pipelines.errors import ClusterRefusedWrites, ConfigError

if TYPE_CHECKING:
    from elasticsearch import Elasticsearch

log = logging.getLogger(__name__)
T = TypeVar("T")


def connect(settings: Settings, *, admin: bool = False) -> Elasticsearch:
    """A client for the configured cluster; raises ConfigError when none is configured.

    On the local node the pipeline authenticates as its least-privilege user; ``admin``
    (the ``elastic`` superuser) is for setup commands only.
    """
    from elasticsearch import Elasticsearch

    es = settings.elasticsearch
    options: dict[str, object] = {"request_timeout": es.request_timeout_s, "retry_on_timeout": True, "max_retries": 3}
    if es.is_external:
        if es.api_key:
            options["api_key"] = es.api_key
        elif es.username:
            options["basic_auth"] = (es.username, es.password or "")
        options["verify_certs"] = es.verify_certs
        if es.ca_certs:
            options["ca_certs"] = str(es.ca_certs)
        return Elasticsearch(list(es.hosts), **options)

    from pipelines.store.local_node import read_credentials

    node = read_credentials(settings)
    if node is None:
        raise ConfigError(
            f"no Elasticsearch configured: run `newsflow es start` to start the local node "
            f"(state in {settings.local_node_dir}), or set NEWSFLOW_ES_URL and credentials"
        )
    if admin:
        return Elasticsearch(node.url, basic_auth=(node.username, node.password), **options)
    if node.pipeline_password is None:
        # Never fall back to the superuser: the pipeline's writes must stay inside its role.
        raise ConfigError(
            f"the local node in {settings.local_node_dir} has no pipeline user password "
            f"({settings.local_node_dir}/pipeline-password is missing); restart the node with "
            "`newsflow es stop && newsflow es start`, which creates the pipeline user again"
        )
    return Elasticsearch(node.url, basic_auth=(node.pipeline_username, node.pipeline_password), **options)


def describe(settings: Settings) -> str:
    """Where the pipeline writes, for logs: never includes a secret."""
    es = settings.elasticsearch
    if es.is_external:
        auth = "api key" if es.api_key else ("user " + es.username if es.username else "no auth")
        return f"{es.url} ({auth})"
    return f"local node (state {settings.local_node_dir})"


# Bulk item errors that describe the cluster, not the document: retried, never dead-lettered.
_CLUSTER_SIDE_ERRORS = frozenset({"es_rejected_execution_exception", "cluster_block_exception"})


def is_cluster_side(outcome: dict[str, Any]) -> bool:
    """Whether a refused bulk item was refused for the cluster's reasons (overloaded, blocked)."""
    error = outcome.get("error")
    return outcome.get("status") == 429 or (isinstance(error, dict) and error.get("type") in _CLUSTER_SIDE_ERRORS)


def bulk_with_backoff(
    client: Elasticsearch,
    actions: Iterable[dict[str, Any]],
    *,
    retries: int = 8,
    initial_backoff_s: float = 1.0,
    max_backoff_s: float = 30.0,
    sleep: Callable[[float], None] = time.sleep,
    **options: Any,
) -> list[dict[str, Any]]:
    """Send ``actions`` in bulk; return the outcomes of the items refused for reasons of their own
    (mapping errors and the like: the caller's dead letters).

    Items answered 429 are resent with exponential backoff (``initial_backoff_s`` doubling up to
    ``max_backoff_s``, ``retries`` times); a connection error resends the whole request on the
    same schedule (every write is an upsert by id, so resending is safe). What the cluster still
    refuses after that — overloaded, or an index write block — raises ``ClusterRefusedWrites``:
    a retryable failure of the run, never a permanent dead letter.
    """
    from elastic_transport import ConnectionError as TransportConnectionError
    from elasticsearch import helpers

    actions = list(actions)
    for attempt in range(retries + 1):
        try:
            refused = [
                next(iter(item.values()))
                for ok, item in helpers.streaming_bulk(
                    client, actions, max_retries=retries, initial_backoff=initial_backoff_s,
                    max_backoff=max_backoff_s, raise_on_error=False, raise_on_exception=False, yield_ok=False,
                    **options,
                )
                if not ok
            ]
            break
        except TransportConnectionError:
            if attempt == retries:
                raise
            sleep(min(max_backoff_s, initial_backoff_s * 2**attempt))
    cluster_side = [outcome for outcome in refused if is_cluster_side(outcome)]
    if cluster_side:
        raise ClusterRefusedWrites(
            f"Elasticsearch refused {len(cluster_side)} of {len(actions)} writes to {_indices(cluster_side)} "
            f"after {retries} retries: {_reason(cluster_side[0])}; nothing was dead-lettered, "
            "run again once the cluster accepts writes"
        )
    return refused


def _indices(outcomes: Sequence[dict[str, Any]]) -> str:
    return ", ".join(sorted({str(outcome.get("_index", "?")) for outcome in outcomes}))


def _reason(outcome: dict[str, Any]) -> str:
    error = outcome.get("error")
    if isinstance(error, dict):
        return f"{error.get('type', 'error')}: {error.get('reason', '')}".strip()
    return str(error)[:300]


def is_outage(error: BaseException) -> bool:
    """Whether ``error`` (or what caused it) says the cluster is down or still recovering, rather
    than refusing this request: no connection, a timeout, or 503 while shards come back."""
    from elastic_transport import ConnectionError as TransportConnectionError
    from elastic_transport import ConnectionTimeout
    from elasticsearch import ApiError

    seen: set[int] = set()
    cause: BaseException | None = error
    while cause is not None and id(cause) not in seen:
        seen.add(id(cause))
        if isinstance(cause, (TransportConnectionError, ConnectionTimeout)):
            return True
        if isinstance(cause, ApiError) and cause.meta.status == 503:
            return True
        cause = cause.__cause__ or cause.__context__
    return False


def wait_until_healthy(client: Elasticsearch, deadline: float, *, sleep: Callable[[float], None] = time.sleep) -> bool:
    """Poll until every primary shard is assigned (yellow) or ``deadline`` (monotonic) passes."""
    delay = 0.5
    while time.monotonic() < deadline:
        try:
            if client.options(request_timeout=10).cluster.health(wait_for_status="yellow", timeout="5s")["status"] in (
                "yellow", "green"
            ):
                return True
        except Exception as error:  # noqa: BLE001 — any answer but "healthy" means wait on
            if not is_outage(error):
                raise
        sleep(min(delay, max(0.0, deadline - time.monotonic())))
        delay = min(delay * 2, 5.0)
    return False


def through_outages(client: Elasticsearch, attempt: Callable[[], T], *, wait_s: float, what: str) -> T:
    """``attempt()``; if the cluster goes away meanwhile, wait up to ``wait_s`` seconds in all for
    it to be healthy again and call ``attempt`` again. Safe because every write is an upsert by
    a stable id: what the cut-off attempt wrote is written again, never twice."""
    deadline = time.monotonic() + wait_s
    while True:
        try:
            return attempt()
        except Exception as error:
            if not is_outage(error) or time.monotonic() >= deadline:
                raise
            log.warning("Elasticsearch unreachable during %s (%s); waiting up to %.0fs for it to come back",
                        what, type(error).__name__, deadline - time.monotonic())
            if not wait_until_healthy(client, deadline):
                raise
            log.warning("Elasticsearch is back; doing %s again", what)
