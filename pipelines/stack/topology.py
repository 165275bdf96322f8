"""The production topology on one machine, without Docker: ``newsflow stack up | down | status``.

PostgreSQL 15 (Airflow's metadata database, its own data directory, not the system cluster)
and Redis 7 (the Celery broker) from Debian packages; Airflow's api-server, scheduler,
dag-processor and triggerer with the CeleryExecutor and ``WORKERS`` Celery workers; and a
three-node Elasticsearch cluster built from the same distribution as the local node
(``pipelines.store.local_node``), security on, the pipeline's least-privilege user on every
node. Everything listens on 127.0.0.1, on ports chosen at the first ``up`` and kept in
``<state>/stack/stack.json``; every component is a process group whose pid is in ``run/``.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path

from pipelines.errors import NewsflowError
from pipelines.orchestration.environment import airflow_environment, prepare_airflow, stored_secret
from pipelines.settings import Settings
from pipelines.stack.processes import group_alive, launch, read_pid, session_processes, stop_sessions
from pipelines.store.local_node import (
    PID_FILE,
    PIPELINE_USERNAME,
    ClusterMembership,
    LocalNode,
    read_credentials,
    unprivileged,
)

ES_NODES = 3
WORKERS = 2
AIRFLOW_SERVICES = ("scheduler", "dag-processor", "triggerer")
ADMIN = "admin"
DEBIAN_PACKAGES = ("postgresql-15", "redis-server")
ES_CLUSTER_NAME = "newsflow-stack"


class StackError(NewsflowError):
    """A component of the stack could not be installed, started or stopped; the message says which."""


@dataclass(frozen=True)
class ComponentHealth:
    name: str
    running: bool
    healthy: bool
    detail: str


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _postgres_bin() -> Path:
    for candidate in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (candidate / "initdb").is_file():
            return candidate
    raise StackError("PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/initdb)")


def install_packages(progress=print) -> None:  # noqa: ANN001
    """``apt-get install`` PostgreSQL 15 and Redis when their programs are missing."""
    if shutil.which("redis-server") and Path("/usr/lib/postgresql").is_dir() and any(Path("/usr/lib/postgresql").glob("*/bin/initdb")):
        return
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        raise StackError(f"install {' '.join(DEBIAN_PACKAGES)} first (apt-get as root), then run `newsflow stack up` again")
    progress(f"installing {' '.join(DEBIAN_PACKAGES)} with apt-get")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (["apt-get", "update"], ["apt-get", "install", "-y", *DEBIAN_PACKAGES]):
        result = subprocess.run(command, env=env, capture_output=True, text=True)
        if result.returncode:
            raise StackError(f"{' '.join(command)} failed: {(result.stderr or result.stdout)[-800:]}")


class Stack:
    """Start, stop and inspect the whole topology kept under ``<state>/stack``."""

    def __init__(self, settings: Settings, progress=None) -> None:  # noqa: ANN001
        self.settings = settings
        self.directory = settings.state_dir / "stack"
        self.progress = progress or (lambda message: None)

    # --- layout -----------------------------------------------------------------------------

    @property
    def run_dir(self) -> Path:
        return self.directory / "run"

    @property
    def log_dir(self) -> Path:
        return self.directory / "logs"

    def log(self, component: str) -> Path:
        return self.log_dir / f"{component}.log"

    def _pid_file(self, component: str) -> Path:
        return self.run_dir / f"{component}.pid"

    @property
    def ports(self) -> dict:
        """Ports chosen at the first ``up``, the same on every later one."""
        path = self.directory / "stack.json"
        if path.is_file():
            return json.loads(path.read_text())
        ports = {
            "postgres": _free_port(),
            "redis": _free_port(),
            "api": _free_port(),
            "es_http": [_free_port() for _ in range(ES_NODES)],
            "es_transport": [_free_port() for _ in range(ES_NODES)],
            "log_servers": {name: _free_port() for name in ("triggerer", *self.worker_names)},
            "scheduler_health": _free_port(),
        }
        self.directory.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(ports, indent=1) + "\n")
        return ports

    @property
    def worker_names(self) -> list[str]:
        return [f"worker{number}" for number in range(1, WORKERS + 1)]

    @property
    def es_node_names(self) -> list[str]:
        return [f"es{number}" for number in range(1, ES_NODES + 1)]

    def _secret(self, name: str) -> str:
        return stored_secret(self.directory / "secrets" / name)

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['api']}"

    @property
    def es_urls(self) -> list[str]:
        return [f"http://127.0.0.1:{port}" for port in self.ports["es_http"]]

    @property
    def admin_password(self) -> str:
        return json.loads((self.directory / "airflow-passwords.json").read_text())[ADMIN]

    # --- Elasticsearch ------------------------------------------------------------------------

    def es_node(self, index: int) -> LocalNode:
        """The ``index``-th (0-based) node of the cluster, a LocalNode in a directory of its own."""
        ports = self.ports
        name = self.es_node_names[index]
        settings = self.settings.with_changes(
            state_dir=self.directory / name,
            # Three JVMs starting at once on a small machine need longer than one node's 180 s.
            local_node=replace(self.settings.local_node, port=ports["es_http"][index], heap="512m", startup_timeout_s=600),
        )
        membership = ClusterMembership(
            cluster_name=ES_CLUSTER_NAME,
            node_name=name,
            transport_port=ports["es_transport"][index],
            seed_transport_ports=tuple(ports["es_transport"]),
            initial_master_nodes=tuple(self.es_node_names),
            credentials_from=None if index == 0 else self.directory / self.es_node_names[0] / "elasticsearch",
        )
        return LocalNode(settings, self.progress, membership)

    def es_credentials(self):  # noqa: ANN201 — NodeInfo of the first node (all share them)
        info = read_credentials(self.es_node(0).settings)
        if info is None:
            raise StackError("the Elasticsearch cluster was never configured: run `newsflow stack up`")
        return info

    def _start_elasticsearch(self, pool: ThreadPoolExecutor) -> list[Future]:
        """Start every node; returns once the first node is configured (the others copy its
        credentials), with one future per node that completes when the cluster answers."""
        first = self.es_node(0)
        started = [pool.submit(first.start)]
        deadline = time.monotonic() + 300
        while not ((first.directory / "pipeline-password").is_file() and (first.directory / "node.json").is_file()):
            if started[0].done():
                started[0].result()
                break
            if time.monotonic() > deadline:
                raise StackError("the first Elasticsearch node was not configured within 300s")
            time.sleep(0.2)
        return started + [pool.submit(self.es_node(index).start) for index in range(1, ES_NODES)]

    def _es_get(self, path: str, timeout: float = 5.0) -> dict | None:
        import base64

        info = self.es_credentials()
        token = base64.b64encode(f"{info.username}:{info.password}".encode()).decode()
        for url in self.es_urls:
            request = urllib.request.Request(url + path, headers={"Authorization": f"Basic {token}"})
            try:
                with urllib.request.urlopen(request, timeout=timeout) as response:
                    return json.loads(response.read())
            except (OSError, ValueError):
                continue
        return None

    # --- PostgreSQL and Redis -----------------------------------------------------------------

    @property
    def database_url(self) -> str:
        return f"postgresql+psycopg2://airflow:{self._secret('postgres')}@127.0.0.1:{self.ports['postgres']}/airflow"

    @property
    def broker_url(self) -> str:
        return f"redis://:{self._secret('redis')}@127.0.0.1:{self.ports['redis']}/0"

    def _start_postgres(self) -> None:
        binaries = _postgres_bin()
        data = self.directory / "postgres" / "data"
        sockets = self.directory / "postgres" / "run"
        sockets.mkdir(parents=True, exist_ok=True)
        if not (data / "PG_VERSION").is_file():
            password_file = self.directory / "secrets" / "postgres"
            self._secret("postgres")
            data.mkdir(parents=True, exist_ok=True)
            command = [str(binaries / "initdb"), "-D", str(data), "-U", "airflow", f"--pwfile={password_file}",
                       "--auth=scram-sha-256", "-E", "UTF8", "--locale=C"]
            result = subprocess.run(unprivileged(command, "PostgreSQL"), capture_output=True, text=True)
            if result.returncode:
                raise StackError(f"initdb failed: {(result.stderr or result.stdout)[-800:]}")
        command = [str(binaries / "postgres"), "-D", str(data), "-p", str(self.ports["postgres"]),
                   "-c", "listen_addresses=127.0.0.1", "-c", f"unix_socket_directories={sockets}"]
        launch(unprivileged(command, "PostgreSQL"), os.environ, self.log("postgres"), self._pid_file("postgres"))
        self._wait("postgres", self._postgres_ready, 60)
        import psycopg2

        connection = psycopg2.connect(host="127.0.0.1", port=self.ports["postgres"], user="airflow",
                                      password=self._secret("postgres"), dbname="postgres")
        try:
            connection.autocommit = True
            with connection.cursor() as cursor:
                cursor.execute("SELECT 1 FROM pg_database WHERE datname = 'airflow'")
                if cursor.fetchone() is None:
                    cursor.execute("CREATE DATABASE airflow")
        finally:
            connection.close()

    def _postgres_ready(self) -> tuple[bool, str]:
        result = subprocess.run(
            [str(_postgres_bin() / "pg_isready"), "-h", "127.0.0.1", "-p", str(self.ports["postgres"]), "-t", "2"],
            capture_output=True, text=True,
        )
        return result.returncode == 0, result.stdout.strip()

    def _start_redis(self) -> None:
        (self.directory / "redis").mkdir(parents=True, exist_ok=True)
        config = self.directory / "redis" / "redis.conf"
        config.write_text(
            f"bind 127.0.0.1\nport {self.ports['redis']}\nrequirepass {self._secret('redis')}\n"
            f"dir {self.directory / 'redis'}\ndaemonize no\nsave \"\"\nappendonly no\n"
        )
        config.chmod(0o600)
        launch(["redis-server", str(config)], os.environ, self.log("redis"), self._pid_file("redis"))
        self._wait("redis", self._redis_ready, 30)

    def _redis_ready(self) -> tuple[bool, str]:
        try:
            with socket.create_connection(("127.0.0.1", self.ports["redis"]), timeout=2) as connection:
                connection.sendall(f"AUTH {self._secret('redis')}\r\nPING\r\n".encode())
                time.sleep(0.1)
                answer = connection.recv(100).decode(errors="replace")
        except OSError as error:
            return False, str(error)
        return "+PONG" in answer, answer.strip().replace("\r\n", " ")

    # --- Airflow ------------------------------------------------------------------------------

    def airflow_env(self, worker: str | None = None) -> dict[str, str]:
        """The environment of every Airflow process of the stack (``worker``: a Celery worker's)."""
        ports = self.ports
        env = airflow_environment(self.settings.with_changes(state_dir=self.directory))
        info = self.es_credentials()
        passwords = self.directory / "airflow-passwords.json"
        if not passwords.is_file():
            passwords.write_text(json.dumps({ADMIN: self._secret("airflow-admin")}))
            passwords.chmod(0o600)
        env.update({
            "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": self.database_url,
            "AIRFLOW__CELERY__BROKER_URL": self.broker_url,
            "AIRFLOW__CELERY__RESULT_BACKEND": "db+" + self.database_url.replace("+psycopg2", ""),
            "AIRFLOW__CELERY__WORKER_CONCURRENCY": "2",
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{ADMIN}:admin",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords),
            # Task instances record which worker ran them (NEWSFLOW_WORKER_NAME@host).
            "AIRFLOW__CORE__HOSTNAME_CALLABLE": "pipelines.stack.hostname.task_hostname",
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(ports["api"]),
            "AIRFLOW__API__WORKERS": "1",
            "AIRFLOW__API__BASE_URL": self.api_url,
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.api_url}/execution/",
            "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(ports["log_servers"]["triggerer"]),
            "AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_SERVER_PORT": str(ports["scheduler_health"]),
            "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "2",
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
            "NEWSFLOW_ES_URL": ",".join(self.es_urls),
            "NEWSFLOW_ES_USERNAME": PIPELINE_USERNAME,
            "NEWSFLOW_ES_PASSWORD": info.pipeline_password or "",
            "NEWSFLOW_INDEX_PREFIX": self.settings.index_prefix,
        })
        if worker:
            env["NEWSFLOW_WORKER_NAME"] = worker
            env["AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT"] = str(ports["log_servers"][worker])
        return env

    def _airflow(self, component: str, *arguments: str, worker: str | None = None) -> None:
        airflow = str(Path(sys.executable).with_name("airflow"))
        name = worker or component
        launch([airflow, *component.split(), *arguments], self.airflow_env(worker), self.log(name),
                         self._pid_file(name))

    def _airflow_health(self) -> dict:
        try:
            with urllib.request.urlopen(f"{self.api_url}/api/v2/monitor/health", timeout=5) as response:
                return json.loads(response.read())
        except (OSError, ValueError):
            return {}

    def _migrate(self) -> None:
        self.progress("migrating Airflow's metadata database (PostgreSQL) and creating the pools")
        try:
            prepare_airflow(self.settings, self.airflow_env())
        except subprocess.CalledProcessError as error:
            raise StackError(f"airflow {' '.join(error.cmd[1:3])} failed (exit {error.returncode})") from None

    def _start_airflow(self) -> None:
        """Start whichever Airflow component is not running (all of them on a first ``up``)."""
        if not self._running("api-server"):
            # The api-server first: task processes need its execution API from their first second.
            self._airflow("api-server")
            self._wait("api-server", lambda: (bool(self._airflow_health()), self.api_url), 180)
        for component in AIRFLOW_SERVICES:
            if not self._running(component):
                self._airflow(component)
        for worker in self.worker_names:
            if not self._running(worker):
                if self.log(worker).is_file():  # readiness is read from the log of this start
                    self.log(worker).replace(self.log(worker).with_suffix(".log.previous"))
                self._airflow("celery worker", "--celery-hostname", f"{worker}@%h", "--skip-serve-logs", worker=worker)
        keys = {"scheduler": "scheduler", "dag-processor": "dag_processor", "triggerer": "triggerer"}

        def all_healthy() -> tuple[bool, str]:
            health = self._airflow_health()
            wanted = ["metadatabase", *keys.values()]
            return all((health.get(key) or {}).get("status") == "healthy" for key in wanted), json.dumps(health)

        self._wait("scheduler", all_healthy, 180)
        self._wait("worker1", self._workers_ready, 180)

    def _workers_ready(self) -> tuple[bool, str]:
        ready = [worker for worker in self.worker_names if "ready." in self.log(worker).read_text(errors="replace")]
        return len(ready) == WORKERS, f"ready: {ready}"

    # --- lifecycle ------------------------------------------------------------------------------

    @property
    def components(self) -> list[str]:
        """In start order; ``down`` stops them in reverse."""
        return ["postgres", "redis", *self.es_node_names, "api-server", *AIRFLOW_SERVICES, *self.worker_names]

    def _wait(self, component: str, check, timeout_s: float) -> None:  # noqa: ANN001
        deadline = time.monotonic() + timeout_s
        detail = ""
        while time.monotonic() < deadline:
            ok, detail = check()
            if ok:
                return
            pid = read_pid(self._pid_file(component))
            if pid is not None and not group_alive(pid):
                raise StackError(f"{component} exited during startup; log {self.log(component)}:\n{self._tail(component)}")
            time.sleep(1)
        raise StackError(f"{component} not ready after {timeout_s:.0f}s ({detail}); log {self.log(component)}:\n{self._tail(component)}")

    def _tail(self, component: str, lines: int = 15) -> str:
        try:
            return "\n".join(self.log(component).read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def _running(self, component: str) -> int | None:
        if component in self.es_node_names:
            info = read_credentials(self.es_node(self.es_node_names.index(component)).settings)
            return info.pid if info else None
        pid = read_pid(self._pid_file(component))
        return pid if pid is not None and group_alive(pid) else None

    def up(self) -> None:
        """Install what is missing and start every component that is not running yet."""
        install_packages(self.progress)
        self.directory.mkdir(parents=True, exist_ok=True)
        try:
            if not self._running("postgres"):
                self.progress(f"starting PostgreSQL on 127.0.0.1:{self.ports['postgres']}")
                self._start_postgres()
            if not self._running("redis"):
                self.progress(f"starting Redis on 127.0.0.1:{self.ports['redis']}")
                self._start_redis()
            with ThreadPoolExecutor(ES_NODES) as pool:
                nodes = self._start_elasticsearch(pool)
                if not self._running("api-server"):
                    self._migrate()  # while the Elasticsearch nodes boot
                for node in nodes:
                    node.result()
            self.progress(f"Elasticsearch cluster {ES_CLUSTER_NAME}: {', '.join(self.es_urls)}")
            self.progress(f"starting Airflow (CeleryExecutor, {WORKERS} workers) on {self.api_url}")
            self._start_airflow()
        except BaseException:
            self.down()
            raise

    def down(self) -> list[str]:
        """Stop every component (Airflow first, the databases last) and check nothing survived;
        raises StackError naming any process that did."""
        # Airflow first, all of its components at once (Celery's warm shutdown takes a while).
        airflow = [pid for name in ("api-server", *AIRFLOW_SERVICES, *self.worker_names)
                   if (pid := read_pid(self._pid_file(name))) is not None]
        stop_sessions(airflow)  # task processes too: they stay in their component's session
        es_groups = {}
        for index, name in enumerate(self.es_node_names):
            node = self.es_node(index)
            es_groups[name] = read_pid(node.directory / PID_FILE)
            node.stop()
        for component, first_signal in (("redis", signal.SIGTERM), ("postgres", signal.SIGINT)):
            pid = read_pid(self._pid_file(component))
            if pid is not None:
                # PostgreSQL's fast shutdown is SIGINT; SIGTERM would wait for clients.
                stop_sessions([pid], first_signal=first_signal)
        deadline = time.monotonic() + 10
        while (left := self._survivors(es_groups)) and time.monotonic() < deadline:
            time.sleep(0.2)
        if left:
            raise StackError(f"still running after stop: {', '.join(left)}")
        stopped = list(self.components)
        for component in stopped:
            self._pid_file(component).unlink(missing_ok=True)
        return stopped

    def _survivors(self, es_groups: dict[str, int | None]) -> list[str]:
        pids = {component: read_pid(self._pid_file(component)) for component in self.components}
        left = [f"{component} (session {pid}: {len(alive)} processes)" for component, pid in pids.items()
                if pid and (alive := session_processes(pid))]
        return left + [f"{node} (process group {pid})" for node, pid in es_groups.items() if pid and group_alive(pid)]

    def status(self) -> list[ComponentHealth]:
        """Each component: its process group, and what the component itself says about its health."""
        if not (self.directory / "stack.json").is_file():
            return [ComponentHealth(name, False, False, "never started") for name in self.components]
        report = []
        pg_ok, pg_detail = self._postgres_ready() if self._running("postgres") else (False, "")
        report.append(ComponentHealth("postgres", bool(self._running("postgres")), pg_ok, pg_detail or "stopped"))
        redis_ok, redis_detail = self._redis_ready() if self._running("redis") else (False, "")
        report.append(ComponentHealth("redis", bool(self._running("redis")), redis_ok, redis_detail or "stopped"))
        cluster = self._es_get("/_cluster/health") if any(self._running(n) for n in self.es_node_names) else None
        for index, name in enumerate(self.es_node_names):
            running = bool(self._running(name))
            detail = (f"{self.es_urls[index]}, cluster {cluster['status']} with {cluster['number_of_nodes']} nodes"
                      if cluster and running else "stopped" if not running else "cluster not answering")
            report.append(ComponentHealth(name, running, running and bool(cluster) and cluster["status"] in ("green", "yellow"), detail))
        health = self._airflow_health() if self._running("api-server") else {}
        report.append(ComponentHealth("api-server", bool(self._running("api-server")), bool(health), self.api_url))
        for component, key in (("scheduler", "scheduler"), ("dag-processor", "dag_processor"), ("triggerer", "triggerer")):
            state = (health.get(key) or {}).get("status")
            report.append(ComponentHealth(component, bool(self._running(component)), state == "healthy", state or "unknown"))
        for worker in self.worker_names:
            running = bool(self._running(worker))
            ready = running and "ready." in (self.log(worker).read_text(errors="replace") if self.log(worker).is_file() else "")
            report.append(ComponentHealth(worker, running, ready, "celery worker ready" if ready else "not ready"))
        return report
