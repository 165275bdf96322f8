"""Real Airflow services for tests: api-server, scheduler, dag-processor and triggerer.

``start_airflow_services()`` runs each component as ``airflow <component>`` in a throwaway
AIRFLOW_HOME (built by ``airflow_environment()``, so the repository's ``airflow.cfg``, DAGs and
plugins are used), on free ports, each in a session of its own. The processes see the test
session's Elasticsearch through ``NEWSFLOW_STATE_DIR`` / ``NEWSFLOW_ES_PORT`` and get an index
prefix of their own. On exit every process of those sessions is killed (task processes run in
process groups of their own but stay in their component's session), and the exit fails if
anything survives.

The session fixture ``airflow_services`` (in ``conftest.py``) is one such
instance shared by every service test; ``AirflowServices`` wraps the public REST API
(``/api/v2``, bearer token from ``/auth/token``) with the calls tests need: trigger, wait
for a terminal state (failing with task states and log tails), task instances, pools.
"""

from __future__ import annotations

import json
import secrets
import socket
import subprocess
import sys
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from pipelines.orchestration.environment import airflow_environment
from pipelines.settings import Settings
from pipelines.store import IndexNames

COMPONENTS = ("scheduler", "dag-processor", "triggerer")
TERMINAL_RUN_STATES = {"success", "failed"}
ADMIN = "admin"

# Airflow bugs, not newsflow's, that kill a component; a supervisor (systemd, Kubernetes, compose's
# restart policy) would start it again, and so does check_alive(). Any other exit fails the test.
KNOWN_AIRFLOW_CRASHES = {
    # apache/airflow#68699: on SQLite, a backfill whose creation hits "database is locked" (HTTP 503)
    # has already committed its first runs (RELEASE SAVEPOINT commits under pysqlite), and its cleanup
    # deletes them, re-used runs included, while the scheduler holds them: it dies in its error handler.
    "scheduler": "sqlalchemy.orm.exc.ObjectDeletedError: Instance '<DagRun",
}
MAX_RESTARTS = 3


class AirflowRestartWarning(UserWarning):
    """A component was restarted after a known Airflow crash (KNOWN_AIRFLOW_CRASHES)."""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return f"(no {path})"


def _readable_log(text: str) -> str:
    """Airflow 3 task logs are JSON lines; keep level, event and error for a failure message."""
    out = []
    for line in text.splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            out.append(line)
            continue
        if not isinstance(record, dict):
            out.append(line)
            continue
        message = f"[{record.get('level', '?')}] {record.get('event', '')}"
        if record.get("error_detail"):
            details = record["error_detail"]
            message += " " + "; ".join(
                f"{d.get('exc_type')}: {d.get('exc_value')}" for d in details if isinstance(d, dict)
            )
        out.append(message)
    return "\n".join(out)


class AirflowServiceError(AssertionError):
    """A service did not start, or a run did not reach the expected state; the message says why."""


@dataclass
class AirflowServices:
    """A running Airflow and an authenticated client for its public REST API."""

    base_url: str
    home: Path
    env: dict[str, str]
    settings: Settings  # the Elasticsearch settings (and index prefix) the Airflow processes use
    username: str
    password: str
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)
    restarted: list[subprocess.Popen] = field(default_factory=list)  # their sessions are stopped too
    _log_offsets: dict[str, int] = field(default_factory=dict)  # where each component's current log starts
    _token: str | None = None

    @property
    def names(self) -> IndexNames:
        return IndexNames(self.settings.index_prefix)

    @property
    def log_dir(self) -> Path:
        return self.home / "logs"

    def service_log(self, component: str) -> Path:
        return self.log_dir / f"service-{component}.log"

    # --- HTTP -------------------------------------------------------------------------------

    def token(self, username: str | None = None, password: str | None = None) -> str:
        """A bearer token from ``POST /auth/token`` (the admin's, cached, unless credentials are given)."""
        if username is None and self._token:
            return self._token
        response = httpx.post(
            f"{self.base_url}/auth/token",
            json={"username": username or self.username, "password": password or self.password},
            timeout=30,
        )
        if response.status_code not in (200, 201):
            raise AirflowServiceError(f"POST /auth/token: HTTP {response.status_code}: {response.text[:300]}")
        token = response.json()["access_token"]
        if username is None:
            self._token = token
        return token

    def request(self, method: str, path: str, *, authenticated: bool = True, **kwargs: Any) -> httpx.Response:
        headers = dict(kwargs.pop("headers", {}) or {})
        if authenticated:
            headers["Authorization"] = f"Bearer {self.token()}"
        timeout = kwargs.pop("timeout", 30)
        for attempt in range(4):
            response = httpx.request(method, f"{self.base_url}{path}", headers=headers, timeout=timeout, **kwargs)
            # SQLite allows one writer: under load a write can time out ("database is locked"), and
            # the api-server answers 500 "Database error" after rolling back; a read that meets a
            # locked database answers a bare 500. Trying again is safe in both cases.
            retryable = response.status_code == 500 and ("Database error" in response.text or method == "GET")
            if not retryable or attempt == 3:
                return response
            time.sleep(1 + attempt)
        return response

    def api(self, method: str, path: str, **kwargs: Any) -> Any:
        """An authenticated ``/api/v2`` call whose status must be 2xx; returns the decoded JSON."""
        response = self.request(method, f"/api/v2{path}", **kwargs)
        if response.status_code >= 300:
            raise AirflowServiceError(f"{method} /api/v2{path}: HTTP {response.status_code}: {response.text[:500]}")
        return response.json() if response.content else None

    # --- DAGs, runs, tasks ------------------------------------------------------------------

    def wait_for_dag(self, dag_id: str, timeout_s: float = 120) -> dict:
        """Until the dag-processor has parsed ``dag_id``; import errors end the wait early."""
        deadline = time.monotonic() + timeout_s
        while True:
            response = self.request("GET", f"/api/v2/dags/{dag_id}")
            if response.status_code == 200:
                return response.json()
            errors = self.api("GET", "/importErrors")["import_errors"]
            if errors:
                raise AirflowServiceError(f"DAG import errors: {json.dumps(errors, indent=1)[:3000]}")
            if time.monotonic() > deadline:
                raise AirflowServiceError(
                    f"DAG {dag_id} not parsed within {timeout_s:.0f}s; dag-processor log:\n"
                    f"{tail(self.service_log('dag-processor'))}"
                )
            time.sleep(1)

    def unpause(self, dag_id: str) -> None:
        self.api("PATCH", f"/dags/{dag_id}", json={"is_paused": False})

    def trigger(self, dag_id: str, conf: dict | None = None, *, logical_date: str | None = None,
                note: str | None = None) -> str:
        """``POST /api/v2/dags/{dag_id}/dagRuns``; returns the new run's id."""
        body: dict[str, Any] = {"logical_date": logical_date, "conf": conf or {}}
        if note:
            body["note"] = note
        return self.api("POST", f"/dags/{dag_id}/dagRuns", json=body)["dag_run_id"]

    def dag_run(self, dag_id: str, run_id: str) -> dict:
        return self.api("GET", f"/dags/{dag_id}/dagRuns/{run_id}")

    def dag_runs(self, dag_id: str) -> list[dict]:
        return self.api("GET", f"/dags/{dag_id}/dagRuns", params={"limit": 100, "order_by": "run_after"})["dag_runs"]

    def task_instances(self, dag_id: str, run_id: str) -> list[dict]:
        """Every task instance of the run, mapped ones included (one per map index)."""
        return self.api("GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances", params={"limit": 1000})[
            "task_instances"
        ]

    def task_log_tail(self, dag_id: str, run_id: str, task_id: str, lines: int = 30) -> str:
        """The end of each attempt's log file of one task (every map index)."""
        run_dir = self.log_dir / f"dag_id={dag_id}" / f"run_id={run_id}" / f"task_id={task_id}"
        parts = []
        for path in sorted(run_dir.rglob("*.log")):
            readable = _readable_log(path.read_text(errors="replace")).splitlines()[-lines:]
            parts.append(f"--- {path.relative_to(self.log_dir)}\n" + "\n".join(readable))
        return "\n".join(parts) or f"(no log under {run_dir})"

    def describe_run(self, dag_id: str, run_id: str) -> str:
        """Run state, every task instance's state, and the log tails of those that did not succeed."""
        run = self.dag_run(dag_id, run_id)
        tis = self.task_instances(dag_id, run_id)
        lines = [f"run {dag_id} / {run_id}: {run['state']}"]
        for ti in sorted(tis, key=lambda t: (t["task_id"], t["map_index"])):
            label = ti.get("rendered_map_index") or (ti["map_index"] if ti["map_index"] >= 0 else "")
            lines.append(f"  {ti['task_id']} {label} -> {ti['state']} (try {ti['try_number']})")
        for task_id in sorted({ti["task_id"] for ti in tis if ti["state"] not in ("success", "skipped")}):
            lines.append(self.task_log_tail(dag_id, run_id, task_id))
        return "\n".join(lines)

    def wait_for_run(self, dag_id: str, run_id: str, *, timeout_s: float = 120,
                     expected: str | None = "success") -> dict:
        """Until the run is in a terminal state; fails (with task states and log tails) on timeout
        or, when ``expected`` is given, on any other terminal state."""
        deadline = time.monotonic() + timeout_s
        while True:
            run = self.dag_run(dag_id, run_id)
            if run["state"] in TERMINAL_RUN_STATES:
                if expected and run["state"] != expected:
                    raise AirflowServiceError(f"expected {expected}\n{self.describe_run(dag_id, run_id)}")
                return run
            if time.monotonic() > deadline:
                raise AirflowServiceError(
                    f"not finished after {timeout_s:.0f}s\n{self.describe_run(dag_id, run_id)}\n"
                    f"--- scheduler log\n{tail(self.service_log('scheduler'))}"
                )
            self.check_alive()
            time.sleep(1)

    def wait_for_new_run(self, dag_id: str, predicate: Callable[[dict], bool] = lambda run: True, *,
                         timeout_s: float = 120) -> dict:
        """Until a run of ``dag_id`` the test did not trigger itself (schedule, asset event) matches."""
        deadline = time.monotonic() + timeout_s
        while True:
            for run in self.dag_runs(dag_id):
                if predicate(run):
                    return run
            if time.monotonic() > deadline:
                raise AirflowServiceError(f"no matching run of {dag_id} within {timeout_s:.0f}s: {self.dag_runs(dag_id)}")
            time.sleep(1)

    def wait_for_started_runs(self, dag_id: str, predicate: Callable[[dict], bool], *, timeout_s: float = 180,
                              settle_s: float = 5) -> list[dict]:
        """Runs the test did not trigger itself (asset events, schedule) that match ``predicate``:
        waits until there is at least one, every one succeeded, and no new one came for ``settle_s``.
        (Several asset events can start several runs.)"""
        deadline = time.monotonic() + timeout_s
        seen: list[str] = []
        settled_since = None
        while True:
            runs = [run for run in self.dag_runs(dag_id) if predicate(run)]
            ids = sorted(run["dag_run_id"] for run in runs)
            for run in runs:
                if run["state"] == "failed":
                    raise AirflowServiceError(f"expected success\n{self.describe_run(dag_id, run['dag_run_id'])}")
            done = bool(runs) and all(run["state"] == "success" for run in runs)
            if not done or ids != seen:
                settled_since, seen = None, ids
            elif settled_since is None:
                settled_since = time.monotonic()
            elif time.monotonic() - settled_since >= settle_s:
                return runs
            if time.monotonic() > deadline:
                details = "\n".join(self.describe_run(dag_id, run_id) for run_id in ids) or "no matching run"
                raise AirflowServiceError(f"runs of {dag_id} not settled within {timeout_s:.0f}s\n{details}")
            self.check_alive()
            time.sleep(1)

    def wait_until_idle(self, dag_id: str, *, timeout_s: float = 300, settle_s: float = 5) -> None:
        """Until no run of ``dag_id`` is queued or running, and none started, for ``settle_s``: a test
        that seeds documents directly must not race a run an earlier test's asset event started."""
        deadline = time.monotonic() + timeout_s
        idle_since = None
        while True:
            runs = self.api("GET", f"/dags/{dag_id}/dagRuns", params={"state": ["queued", "running"], "limit": 100})
            active = [run["dag_run_id"] for run in runs["dag_runs"]]
            if active:
                idle_since = None
            elif idle_since is None:
                idle_since = time.monotonic()
            elif time.monotonic() - idle_since >= settle_s:
                return
            if time.monotonic() > deadline:
                raise AirflowServiceError(f"{dag_id} still has active runs after {timeout_s:.0f}s: {active}")
            self.check_alive()
            time.sleep(1)

    def ensure_pool(self, name: str, slots: int, description: str = "") -> None:
        response = self.request("GET", f"/api/v2/pools/{name}")
        if response.status_code == 404:
            self.api("POST", "/pools", json={"name": name, "slots": slots, "description": description})
        else:
            self.api("PATCH", f"/pools/{name}", json={"name": name, "slots": slots})

    # --- processes ----------------------------------------------------------------------------

    def start_component(self, component: str, args: Sequence[str] = ()) -> None:
        log = self.service_log(component)
        self._log_offsets[component] = log.stat().st_size if log.exists() else 0
        self.processes[component] = _start(component, args, self.env, log)

    def check_alive(self) -> None:
        """Fails if a component has exited, unless a known Airflow crash killed it: that one is restarted."""
        for component, process in list(self.processes.items()):
            if process.poll() is None:
                continue
            since_start = self.service_log(component).read_bytes()[self._log_offsets.get(component, 0):]
            known = KNOWN_AIRFLOW_CRASHES.get(component)
            if known and known.encode() in since_start and len(self.restarted) < MAX_RESTARTS:
                warnings.warn(f"airflow {component} died of a known Airflow bug ({known}); restarted",
                              AirflowRestartWarning, stacklevel=2)
                self.restarted.append(process)
                self.start_component(component)
                continue
            raise AirflowServiceError(
                f"airflow {component} exited with {process.returncode}:\n{tail(self.service_log(component))}"
            )

def _start(component: str, args: Sequence[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as out:
        return subprocess.Popen(
            [str(Path(sys.executable).with_name("airflow")), component, *args],
            env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
        )


def _stop(processes: Sequence[subprocess.Popen], grace_s: float = 20) -> None:
    """Stop every component's session: its task processes too, even those a dead worker orphaned."""
    from pipelines.stack.processes import session_processes, stop_sessions

    stop_sessions([process.pid for process in processes], grace_s=grace_s)
    for process in processes:
        process.wait(timeout=10)
    left = {process.args[1]: alive for process in processes if (alive := session_processes(process.pid))}
    assert not left, f"Airflow processes survived teardown: {left}"


def _wait_healthy(services: AirflowServices, components: Sequence[str], timeout_s: float) -> None:
    """Until ``/api/v2/monitor/health`` answers and reports every started component healthy."""
    keys = {"scheduler": "scheduler", "dag-processor": "dag_processor", "triggerer": "triggerer"}
    deadline = time.monotonic() + timeout_s
    last = "no answer"
    while time.monotonic() < deadline:
        services.check_alive()
        try:
            response = httpx.get(f"{services.base_url}/api/v2/monitor/health", timeout=5)
            health = response.json() if response.status_code == 200 else {}
            last = response.text[:500]
        except httpx.HTTPError as error:
            health, last = {}, repr(error)
        wanted = ["metadatabase", *(keys[c] for c in components)]
        if health and all((health.get(key) or {}).get("status") == "healthy" for key in wanted):
            return
        time.sleep(1)
    raise AirflowServiceError(f"Airflow not healthy after {timeout_s:.0f}s: {last}\n" + "\n".join(
        f"--- {c}\n{tail(services.service_log(c), 20)}" for c in ("api-server", *components)
    ))


@contextmanager
def start_airflow_services(
    settings: Settings,
    home_parent: Path,
    *,
    components: Sequence[str] = COMPONENTS,
    extra_env: dict[str, str] | None = None,
    pools: dict[str, int] | None = None,
    startup_timeout_s: float = 180,
) -> Iterator[AirflowServices]:
    """Start Airflow against ``settings``' Elasticsearch; yields once every component is healthy."""
    # AIRFLOW_HOME comes from a state dir of its own; Elasticsearch stays the session's.
    env = airflow_environment(settings.with_changes(state_dir=home_parent))
    home = Path(env["AIRFLOW_HOME"])
    port = free_port()
    password = secrets.token_urlsafe(16)
    passwords_file = home / "test-passwords.json"
    passwords_file.write_text(json.dumps({ADMIN: password}))
    env.update({
        "NEWSFLOW_STATE_DIR": str(settings.state_dir),
        "NEWSFLOW_INDEX_PREFIX": settings.index_prefix,
        "NEWSFLOW_ES_PORT": str(settings.local_node.port),
        # The repository's feeds and sitemaps are on the internet: tests trigger what they need.
        "NEWSFLOW_FEEDS_SCHEDULE": "none",
        "NEWSFLOW_SITEMAPS_SCHEDULE": "none",
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{ADMIN}:admin",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords_file),
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__PORT": str(port),
        "AIRFLOW__API__WORKERS": "1",
        "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{port}",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/",
        "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
        "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
        "AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_SERVER_PORT": str(free_port()),
        "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "2",
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
        **(extra_env or {}),
    })
    services = AirflowServices(f"http://127.0.0.1:{port}", home, env, settings, ADMIN, password)
    migrate = subprocess.run([str(Path(sys.executable).with_name("airflow")), "db", "migrate"], env=env,
                             capture_output=True, text=True, timeout=300)
    if migrate.returncode:
        raise AirflowServiceError(f"airflow db migrate failed:\n{migrate.stdout[-2000:]}\n{migrate.stderr[-3000:]}")
    try:
        # The api-server first: task processes need its execution API from their first second.
        services.start_component("api-server")
        _wait_healthy(services, [], startup_timeout_s)
        for name, slots in (pools or {}).items():
            services.ensure_pool(name, slots, "created by the test harness")
        for component in components:
            services.start_component(component)
        _wait_healthy(services, components, startup_timeout_s)
        yield services
    finally:
        _stop([*services.processes.values(), *services.restarted])
