"""The Elasticsearch client edge: one place decides which cluster and which credentials.

With ``NEWSFLOW_ES_URL`` set, that cluster is used (basic auth or API key, TLS verified
by default). Otherwise the embedded local node's URL and generated password are read
from the state directory; nothing is started here (``newsflow es start`` does that).

Client 8.x is pinned on purpose: it talks to both 8.x and 9.x servers, while client 9.x
sends ``compatible-with=9`` headers that an 8.x server rejects.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pipelines.settings import Settings
from pipelines.errors import ConfigError

if TYPE_CHECKING:
    from elasticsearch import Elasticsearch


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
        return Elasticsearch(es.url, **options)

    from pipelines.store.local_node import read_credentials

    node = read_credentials(settings)
    if node is None:
        raise ConfigError(
            f"no Elasticsearch configured: run `newsflow es start` to start the local node "
            f"(state in {settings.local_node_dir}), or set NEWSFLOW_ES_URL and credentials"
        )
    if admin or node.pipeline_password is None:
        return Elasticsearch(node.url, basic_auth=(node.username, node.password), **options)
    return Elasticsearch(node.url, basic_auth=(node.pipeline_username, node.pipeline_password), **options)


def describe(settings: Settings) -> str:
    """Where the pipeline writes, for logs: never includes a secret."""
    es = settings.elasticsearch
    if es.is_external:
        auth = "api key" if es.api_key else ("user " + es.username if es.username else "no auth")
        return f"{es.url} ({auth})"
    return f"local node (state {settings.local_node_dir})"
