"""The embedded Elasticsearch: one real single-node cluster on 127.0.0.1, started by the project.

No Docker here, so the official server distribution published on Maven Central
(``org.elasticsearch.distribution.integ-test-zip:elasticsearch``) is fetched once into the
cache, checked against a pinned SHA-512, and run with an installed JDK. Everything the node
writes (config, keystore, data, logs, generated password) lives in ``<state>/elasticsearch``.

That distribution ships the server, HTTP transport and x-pack security, but not
``analysis-common``: no ``english`` analyzer and no native realm users beyond ``elastic``.
``pipelines.store.schema`` checks for the analyzer instead of assuming it.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import hashlib
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
import zipfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from pipelines.errors import LocalElasticsearchError
from pipelines.settings import Settings

# Versions we have run here, newest first, with the JDK each needs and the SHA-512 of its zip
# (Maven Central publishes no checksum for some 9.x artifacts, so the pins live here).
KNOWN_DISTRIBUTIONS: dict[str, tuple[int, str]] = {
    "9.2.8": (
        21,
        "c0addbd2e483e804965f32168917282a76cf030f598ccbc4ef53f99500d0c179977219bd04984889c6aa01ba6410c1f6360b943c4743c2ea84af82052c3aba2d",
    ),
    "8.19.21": (
        17,
        "cf6b0a93860d329937ae7f913ec5073b0c726c77639764b93fc83a304aa1dd9d4defcfa2849948eea3b0b47c2065f994908603939fc2a4774c9c4d868c5ec1dd",
    ),
}
ARTIFACT_PATH = "org/elasticsearch/distribution/integ-test-zip/elasticsearch"
USERNAME = "elastic"
PASSWORD_FILE = "elastic-password"
# The pipeline never uses the superuser: a file-realm user whose role reaches only the
# project's indices (the Maven distribution cannot create native users or API keys, as its
# .security index needs the missing analysis-common module).
PIPELINE_USERNAME = "newsflow_pipeline"
PIPELINE_ROLE = "newsflow_pipeline"
PIPELINE_PASSWORD_FILE = "pipeline-password"
PID_FILE = "elasticsearch.pid"
NODE_FILE = "node.json"
JVM_ROOT = Path("/usr/lib/jvm")

Progress = Callable[[str], None]


@dataclass(frozen=True)
class Java:
    home: Path
    major: int


@dataclass(frozen=True)
class NodeInfo:
    """How to reach the local node; passwords never appear in ``repr``."""

    url: str
    username: str
    password: str
    version: str
    pid: int | None
    pipeline_username: str = PIPELINE_USERNAME
    pipeline_password: str | None = None

    def __repr__(self) -> str:
        return f"NodeInfo(url={self.url!r}, username={self.username!r}, version={self.version!r}, pid={self.pid})"


@dataclass(frozen=True)
class ClusterMembership:
    """This node is one of several forming a cluster on loopback (``newsflow stack``)."""

    cluster_name: str
    node_name: str
    transport_port: int
    seed_transport_ports: tuple[int, ...]
    initial_master_nodes: tuple[str, ...]
    # Another node's directory: every node shares its keystore, passwords and file-realm users
    # (without a .security index, each node authenticates from its own files).
    credentials_from: Path | None = None


@dataclass(frozen=True)
class NodeStatus:
    running: bool
    healthy: bool
    url: str
    version: str | None
    pid: int | None
    state_dir: Path
    log_file: Path


# ------------------------------------------------------------------------------------- JDK


def java_major(home: Path) -> int | None:
    """The JDK's feature version from its ``release`` file, or None if it is not a JDK."""
    release = home / "release"
    if not (home / "bin" / "java").is_file() or not release.is_file():
        return None
    match = re.search(r'^JAVA_VERSION="(1\.)?(\d+)', release.read_text(errors="replace"), re.MULTILINE)
    return int(match.group(2)) if match else None


def find_java(preferred: Path | None = None, roots: tuple[Path, ...] = (JVM_ROOT,)) -> Java:
    """The configured JDK, else the newest one installed under /usr/lib/jvm or on JAVA_HOME."""
    if preferred is not None:
        major = java_major(preferred)
        if major is None:
            raise LocalElasticsearchError(f"NEWSFLOW_JAVA_HOME={preferred} is not a JDK (no bin/java and release file)")
        return Java(preferred, major)
    candidates = [Path(p) for p in [os.environ.get("JAVA_HOME")] if p]
    for root in roots:
        if root.is_dir():
            candidates += sorted(p for p in root.iterdir() if p.is_dir() and not p.is_symlink())
    found = [Java(home, major) for home in candidates if (major := java_major(home)) is not None]
    if not found:
        raise LocalElasticsearchError(
            "no JDK found: install one (JDK 21+ for Elasticsearch 9, e.g. `apt-get install openjdk-21-jdk-headless`, "
            "or JDK 17 for 8.19) or set NEWSFLOW_JAVA_HOME"
        )
    return max(found, key=lambda java: java.major)


def choose_version(java: Java, requested: str | None = None) -> str:
    """The requested version (checked against the JDK), else the newest known one the JDK runs."""
    if requested:
        needed = KNOWN_DISTRIBUTIONS.get(requested, (21 if requested.startswith("9.") else 17, ""))[0]
        if java.major < needed:
            raise LocalElasticsearchError(
                f"Elasticsearch {requested} needs JDK {needed}+, but {java.home} is JDK {java.major}"
            )
        return requested
    for version, (needed, _) in KNOWN_DISTRIBUTIONS.items():
        if java.major >= needed:
            return version
    raise LocalElasticsearchError(f"JDK {java.major} at {java.home} is too old: Elasticsearch needs JDK 17 or newer")


# ------------------------------------------------------------------------------ distribution


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    # Parallel test sessions and a demo may fetch at once: one downloads, the others wait.
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _download(url: str, target: Path, progress: Progress) -> None:
    partial = target.with_suffix(target.suffix + ".part")
    try:
        with urllib.request.urlopen(url, timeout=60) as response, partial.open("wb") as out:
            total = int(response.headers.get("Content-Length") or 0)
            done, last_report = 0, 0.0
            while chunk := response.read(1 << 20):
                out.write(chunk)
                done += len(chunk)
                if time.monotonic() - last_report > 5:
                    last_report = time.monotonic()
                    share = f" ({done * 100 // total}%)" if total else ""
                    progress(f"  downloaded {done >> 20} MiB{share}")
    except urllib.error.HTTPError as error:
        partial.unlink(missing_ok=True)
        raise LocalElasticsearchError(f"cannot download {url}: HTTP {error.code}") from None
    except OSError as error:
        partial.unlink(missing_ok=True)
        raise LocalElasticsearchError(f"cannot download {url}: {error}") from None
    partial.replace(target)


def _sha512(path: Path) -> str:
    digest = hashlib.sha512()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _extract(archive: Path, target: Path) -> None:
    # zipfile drops Unix modes; restore them (bin/ scripts must stay executable).
    staging = Path(tempfile.mkdtemp(prefix=".extract-", dir=target.parent))
    try:
        with zipfile.ZipFile(archive) as zipped:
            for member in zipped.infolist():
                extracted = Path(zipped.extract(member, staging))
                mode = member.external_attr >> 16
                if mode and not member.is_dir():
                    extracted.chmod(mode & 0o777)
        (top,) = [p for p in staging.iterdir()]
        top.rename(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def ensure_distribution(settings: Settings, version: str, progress: Progress) -> Path:
    """The unpacked distribution for ``version`` in the cache, downloading and verifying it once."""
    cache = settings.cache_dir / "elasticsearch"
    home = cache / f"elasticsearch-{version}"
    if (home / "bin" / "elasticsearch").is_file():
        return home
    with _file_lock(cache / f".{version}.lock"):
        if (home / "bin" / "elasticsearch").is_file():
            return home
        archive = cache / f"elasticsearch-{version}.zip"
        expected = KNOWN_DISTRIBUTIONS.get(version, (0, None))[1]
        if not archive.is_file():
            url = f"{settings.local_node.maven_repository}/{ARTIFACT_PATH}/{version}/elasticsearch-{version}.zip"
            progress(f"fetching Elasticsearch {version} from {url}")
            _download(url, archive, progress)
        if expected:
            actual = _sha512(archive)
            if actual != expected:
                archive.unlink()
                raise LocalElasticsearchError(
                    f"checksum mismatch for Elasticsearch {version}: expected sha512 {expected[:16]}…, got {actual[:16]}…"
                    " (download removed; try again)"
                )
        else:
            progress(f"warning: no pinned checksum for Elasticsearch {version}; using it unverified")
        progress(f"unpacking Elasticsearch {version} into {home}")
        _extract(archive, home)
    return home


# ------------------------------------------------------------------------------------ node


def _port_in_use(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.settimeout(0.5)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child of this process counts as gone.
    with contextlib.suppress(ChildProcessError):
        finished, _ = os.waitpid(pid, os.WNOHANG)
        if finished:
            return False
    return True


def _write_private(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(text)
    path.chmod(0o600)


def _http_get(url: str, password: str, timeout: float = 5.0) -> tuple[int, dict | None]:
    token = base64.b64encode(f"{USERNAME}:{password}".encode()).decode()
    request = urllib.request.Request(url, headers={"Authorization": f"Basic {token}"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, None
    except (OSError, ValueError):
        return 0, None


def read_credentials(settings: Settings) -> NodeInfo | None:
    """URL and password of the local node, if it has ever been configured in this state directory."""
    directory = settings.local_node_dir
    try:
        node = json.loads((directory / NODE_FILE).read_text())
        password = (directory / PASSWORD_FILE).read_text().strip()
    except (OSError, ValueError):
        return None
    try:
        pipeline_password: str | None = (directory / PIPELINE_PASSWORD_FILE).read_text().strip()
    except OSError:
        pipeline_password = None
    return NodeInfo(
        url=f"http://127.0.0.1:{node['port']}",
        username=USERNAME,
        password=password,
        version=node["version"],
        pid=_read_pid(directory),
        pipeline_password=pipeline_password,
    )


def _read_pid(directory: Path) -> int | None:
    try:
        pid = int((directory / PID_FILE).read_text().strip())
    except (OSError, ValueError):
        return None
    return pid if _pid_alive(pid) else None


def unprivileged(command: list[str], program: str) -> list[str]:
    """``command`` as it must run to not be root: unchanged for a normal user.

    Elasticsearch and PostgreSQL refuse to run as root. An unprivileged user namespace maps root
    to an ordinary uid inside, while files stay owned by the caller outside.
    """
    if os.geteuid() != 0:
        return command
    unshare = shutil.which("unshare")
    if unshare is None:
        raise LocalElasticsearchError(
            f"{program} cannot run as root and `unshare` (util-linux) is missing: run newsflow as a normal user"
        )
    return [unshare, "--user", "--map-user=1000", "--map-group=1000", *command]


def pipeline_role_descriptor(*prefixes: str) -> dict:
    """What the pipeline needs: its own indices, aliases and templates; no other index, no admin."""
    return {
        "cluster": ["monitor", "manage_index_templates"],
        "indices": [
            {
                "names": sorted({f"{prefix}*" for prefix in prefixes}),
                "privileges": ["create_index", "read", "write", "view_index_metadata", "manage"],
            }
        ],
    }


class LocalNode:
    """Start, stop and inspect the project's own single-node Elasticsearch."""

    def __init__(
        self, settings: Settings, progress: Progress | None = None, membership: ClusterMembership | None = None,
        node_settings: Mapping[str, object] | None = None,
    ) -> None:
        self.settings = settings
        # Extra elasticsearch.yml lines (e.g. a tiny write queue in the fault tests).
        self.node_settings = dict(node_settings or {})
        self.directory = settings.local_node_dir
        self.progress: Progress = progress or (lambda message: None)
        self.membership = membership

    @property
    def log_file(self) -> Path:
        return self.directory / "logs" / "console.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._port()}"

    def _port(self) -> int:
        try:
            return int(json.loads((self.directory / NODE_FILE).read_text())["port"])
        except (OSError, ValueError, KeyError):
            return self.settings.local_node.port

    # --- lifecycle

    def start(self) -> NodeInfo:
        """Start the node unless it already runs; return once the cluster is at least yellow."""
        running = read_credentials(self.settings)
        if running is not None and running.pid is not None:
            if self._healthy(running.url, running.password):
                return running
            self.progress(f"Elasticsearch (pid {running.pid}) is running but not healthy yet; waiting")
            return self._wait_until_healthy(running.pid, running.url, running.password, running.version)

        port = self.settings.local_node.port
        if _port_in_use(port):
            raise LocalElasticsearchError(
                f"port {port} on 127.0.0.1 is already in use by another process; stop it, or choose another "
                f"port with NEWSFLOW_ES_PORT (or point NEWSFLOW_ES_URL at that cluster)"
            )
        java = find_java(self.settings.local_node.java_home)
        version = choose_version(java, self.settings.local_node.version or self._configured_version())
        home = ensure_distribution(self.settings, version, self.progress)
        password = self._configure(home, version, port)
        pid = self._launch(home, java)
        self.progress(f"starting Elasticsearch {version} (pid {pid}, JDK {java.major}); log: {self.log_file}")
        return self._wait_until_healthy(pid, f"http://127.0.0.1:{port}", password, version)

    def stop(self, timeout_s: float = 60.0) -> bool:
        """Stop the node and every process it spawned; False if it was not running."""
        pid = _read_pid(self.directory)
        (self.directory / PID_FILE).unlink(missing_ok=True)
        if pid is None:
            return False
        self._kill_group(pid, timeout_s)
        return True

    def status(self) -> NodeStatus:
        info = read_credentials(self.settings)
        pid = info.pid if info else None
        healthy = bool(info and pid and self._healthy(info.url, info.password))
        return NodeStatus(
            running=pid is not None,
            healthy=healthy,
            url=self.url,
            version=info.version if info else None,
            pid=pid,
            state_dir=self.directory,
            log_file=self.log_file,
        )

    # --- internals

    def _configured_version(self) -> str | None:
        # Data written by one major cannot always be read by an older one: keep the version
        # a state directory was created with unless the user asks for another.
        try:
            return json.loads((self.directory / NODE_FILE).read_text())["version"]
        except (OSError, ValueError, KeyError):
            return None

    def _configure(self, home: Path, version: str, port: int) -> str:
        config = self.directory / "config"
        password_file = self.directory / PASSWORD_FILE
        for sub in ("data", "logs", "tmp"):
            (self.directory / sub).mkdir(parents=True, exist_ok=True)
        if not (config / "jvm.options").is_file():
            shutil.copytree(home / "config", config, dirs_exist_ok=True)
        (config / "elasticsearch.yml").write_text(
            "# Written by newsflow (pipelines/local_node.py); changes are overwritten on start.\n"
            + self._discovery()
            + "network.host: 127.0.0.1\n"
            f"http.port: {port}\n"
            f"path.data: {self.directory / 'data'}\n"
            f"path.logs: {self.directory / 'logs'}\n"
            "xpack.security.enabled: true\n"
            # Loopback only, so plain HTTP with authentication; TLS is for real clusters.
            "xpack.security.http.ssl.enabled: false\n"
            "xpack.security.transport.ssl.enabled: false\n"
            # Disk watermarks stay on, so a filling disk turns the node read-only (writes then
            # fail with ClusterRefusedWrites) instead of being filled; absolute sizes rather than
            # the default percentages keep a large but well-used developer disk usable.
            "cluster.routing.allocation.disk.watermark.low: 2gb\n"
            "cluster.routing.allocation.disk.watermark.high: 1gb\n"
            "cluster.routing.allocation.disk.watermark.flood_stage: 512mb\n"
            + "".join(f"{key}: {json.dumps(value)}\n" for key, value in self.node_settings.items())
            +             "action.destructive_requires_name: true\n"
        )
        self._copy_shared_credentials()
        if password_file.is_file() and (config / "elasticsearch.keystore").is_file():
            password = password_file.read_text().strip()
        else:
            password = secrets.token_urlsafe(24)
            env = self._environment(home, None)
            (config / "elasticsearch.keystore").unlink(missing_ok=True)
            self._keystore(home, env, ["create"])
            self._keystore(home, env, ["add", "-x", "--stdin", "bootstrap.password"], stdin=password)
            _write_private(password_file, password + "\n")
        (config / "elasticsearch.keystore").chmod(0o600)
        self._configure_pipeline_user(home)
        _write_private(self.directory / NODE_FILE, json.dumps({"version": version, "port": port}) + "\n")
        return password

    def _discovery(self) -> str:
        membership = self.membership
        if membership is None:
            # A transport port range, so two nodes on one machine (a demo and a test session) never clash.
            return "cluster.name: newsflow-local\nnode.name: newsflow-local\ndiscovery.type: single-node\ntransport.port: 9300-9399\n"
        seeds = ", ".join(f'"127.0.0.1:{port}"' for port in membership.seed_transport_ports)
        lines = (
            f"cluster.name: {membership.cluster_name}\nnode.name: {membership.node_name}\n"
            f"transport.port: {membership.transport_port}\ndiscovery.seed_hosts: [{seeds}]\n"
        )
        data = self.directory / "data"
        if not (data.is_dir() and any(data.iterdir())):  # bootstrapping is for a cluster's first start only
            lines += "cluster.initial_master_nodes: [" + ", ".join(f'"{name}"' for name in membership.initial_master_nodes) + "]\n"
        return lines

    def _copy_shared_credentials(self) -> None:
        source = self.membership.credentials_from if self.membership else None
        if source is None or (self.directory / PASSWORD_FILE).is_file():
            return
        for name in ("config/elasticsearch.keystore", "config/users", "config/users_roles", PASSWORD_FILE, PIPELINE_PASSWORD_FILE):
            shutil.copy2(source / name, self.directory / name)

    def _configure_pipeline_user(self, home: Path) -> None:
        """A least-privilege user for the pipeline: its own indices and templates, nothing else."""
        config = self.directory / "config"
        role = {PIPELINE_ROLE: pipeline_role_descriptor("newsflow-", self.settings.index_prefix)}
        (config / "roles.yml").write_text(
            "# Written by newsflow on every start (index patterns follow NEWSFLOW_INDEX_PREFIX).\n"
            + json.dumps(role, indent=2)  # JSON is YAML
            + "\n"
        )
        password_file = self.directory / PIPELINE_PASSWORD_FILE
        users = (config / "users").read_text() if (config / "users").is_file() else ""
        if password_file.is_file() and f"{PIPELINE_USERNAME}:" in users:
            return
        password = secrets.token_urlsafe(24)
        env = self._environment(home, None)
        tool = str(home / "bin" / "elasticsearch-users")
        if f"{PIPELINE_USERNAME}:" in users:
            subprocess.run([tool, "userdel", PIPELINE_USERNAME], env=env, capture_output=True, text=True)
        # The password goes in on stdin (the tool's prompt and its confirmation), never on a
        # command line, where every user of the machine could read it in the process list.
        result = subprocess.run(
            [tool, "useradd", PIPELINE_USERNAME, "-r", PIPELINE_ROLE],
            input=f"{password}\n{password}\n",
            env=env,
            capture_output=True,
            text=True,
        )
        if result.returncode != 0:
            raise LocalElasticsearchError(f"cannot create the pipeline user: {(result.stderr or result.stdout).strip()[-300:]}")
        _write_private(password_file, password + "\n")

    def _keystore(self, home: Path, env: dict[str, str], arguments: list[str], stdin: str | None = None) -> None:
        result = subprocess.run(
            [str(home / "bin" / "elasticsearch-keystore"), *arguments],
            input=stdin,
            env=env,
            capture_output=True,
            text=True,
        )
        if result.returncode != 0:
            raise LocalElasticsearchError(
                f"elasticsearch-keystore {arguments[0]} failed: {(result.stderr or result.stdout).strip()[-500:]}"
            )

    def _environment(self, home: Path, java: Java | None) -> dict[str, str]:
        env = {key: value for key, value in os.environ.items() if not key.startswith(("ES_", "JAVA_"))}
        env["ES_PATH_CONF"] = str(self.directory / "config")
        env["ES_TMPDIR"] = str(self.directory / "tmp")
        env["ES_JAVA_HOME"] = str((java or find_java(self.settings.local_node.java_home)).home)
        heap = self.settings.local_node.heap
        env["ES_JAVA_OPTS"] = f"-Xms{heap} -Xmx{heap} -XX:-AlwaysPreTouch"
        return env

    def _launch(self, home: Path, java: Java) -> int:
        command = unprivileged([str(home / "bin" / "elasticsearch")], "Elasticsearch")
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        with self.log_file.open("ab") as log:
            process = subprocess.Popen(
                command,
                cwd=self.directory,
                env=self._environment(home, java),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group, so stop() can end all of it
            )
        (self.directory / PID_FILE).write_text(f"{process.pid}\n")
        return process.pid

    def _healthy(self, url: str, password: str) -> bool:
        status, body = _http_get(f"{url}/_cluster/health?wait_for_status=yellow&timeout=1s", password)
        return status == 200 and bool(body) and body.get("status") in ("yellow", "green")

    def _wait_until_healthy(self, pid: int, url: str, password: str, version: str) -> NodeInfo:
        deadline = time.monotonic() + self.settings.local_node.startup_timeout_s
        while time.monotonic() < deadline:
            if self._healthy(url, password):
                return NodeInfo(url=url, username=USERNAME, password=password, version=version, pid=pid)
            if not _pid_alive(pid):
                (self.directory / PID_FILE).unlink(missing_ok=True)
                raise LocalElasticsearchError(f"Elasticsearch exited during startup:\n{self._log_tail()}")
            time.sleep(0.5)
        self._kill_group(pid, 30)
        (self.directory / PID_FILE).unlink(missing_ok=True)
        raise LocalElasticsearchError(
            f"Elasticsearch was not healthy after {self.settings.local_node.startup_timeout_s:.0f}s; "
            f"stopped it. Last log lines:\n{self._log_tail()}"
        )

    def _log_tail(self, lines: int = 15) -> str:
        try:
            text = self.log_file.read_text(errors="replace").splitlines()
        except OSError:
            return "(no log)"
        interesting = [line for line in text if "ERROR" in line or "Exception" in line or "error" in line.lower()]
        return "\n".join((interesting or text)[-lines:])

    @staticmethod
    def _kill_group(pid: int, timeout_s: float) -> None:
        from pipelines.stack.processes import group_alive  # here: pipelines.stack imports this module

        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if not group_alive(pid):
                return
            time.sleep(0.2)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)
