"""The Airflow test harness restarts a component only after a crash it knows to be Airflow's own
(KNOWN_AIRFLOW_CRASHES); any other exit still fails the test that notices it."""

from __future__ import annotations

import subprocess
import sys

import pytest

import airflow_services
from airflow_services import KNOWN_AIRFLOW_CRASHES, AirflowRestartWarning, AirflowServiceError, AirflowServices

SIGNATURE = KNOWN_AIRFLOW_CRASHES["scheduler"]


@pytest.fixture
def services(tmp_path, monkeypatch):
    """A harness whose components are short Python processes that print their argument and exit,
    or, once restarted, sleep: what matters is how check_alive() treats their exit and their log."""
    started: list[str] = []

    def fake_start(component, args, env, log):
        log.parent.mkdir(parents=True, exist_ok=True)
        started.append(component)
        with open(log, "ab") as out:
            return subprocess.Popen([sys.executable, "-c", "import sys, time; print(sys.argv[1], flush=True); "
                                     "time.sleep(600 if sys.argv[1] == 'sleep' else 0)", *(args or ["sleep"])],
                                    stdout=out, stderr=subprocess.STDOUT, start_new_session=True)

    monkeypatch.setattr(airflow_services, "_start", fake_start)
    harness = AirflowServices("http://127.0.0.1:9", tmp_path, {}, None, "admin", "secret")
    harness.started = started
    yield harness
    airflow_services._stop([*harness.processes.values(), *harness.restarted], grace_s=1)


def test_a_scheduler_killed_by_the_known_airflow_bug_is_restarted_with_a_warning(services):
    services.start_component("scheduler", [f"Traceback ...\n{SIGNATURE} at 0x7f>' has been deleted"])
    crashed = services.processes["scheduler"]
    crashed.wait(timeout=30)

    with pytest.warns(AirflowRestartWarning, match="scheduler"):
        services.check_alive()

    assert services.restarted == [crashed]
    assert services.started == ["scheduler", "scheduler"]
    assert services.processes["scheduler"].poll() is None  # the new one runs
    services.check_alive()  # and passes the next check without another restart
    assert services.started == ["scheduler", "scheduler"]


def test_any_other_exit_fails_even_after_an_earlier_known_crash_in_the_same_log(services):
    services.start_component("scheduler", [SIGNATURE])
    services.processes["scheduler"].wait(timeout=30)
    with pytest.warns(AirflowRestartWarning):
        services.check_alive()
    services.processes["scheduler"].kill()  # the restarted one dies of something else
    services.processes["scheduler"].wait(timeout=30)

    with pytest.raises(AirflowServiceError, match="airflow scheduler exited"):
        services.check_alive()


def test_the_signature_in_another_components_log_is_not_a_known_crash(services):
    services.start_component("triggerer", [SIGNATURE])
    services.processes["triggerer"].wait(timeout=30)

    with pytest.raises(AirflowServiceError, match="airflow triggerer exited with 0"):
        services.check_alive()
    assert services.restarted == []
