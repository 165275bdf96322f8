"""The forkserver preload (``airflow.cfg`` ``mp_forkserver_preload``) leaves a process warm: the model,
the gazetteer and the MinHash permutations loaded, the DAG modules and the Elasticsearch client
imported, Airflow's plugins loaded, and no connection open that a fork would share."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from pipelines.settings import PROJECT_ROOT


def test_the_preload_module_leaves_the_model_loaded_and_no_client_open():
    probe = textwrap.dedent("""
        import pipelines.orchestration.worker_preload
        from pipelines.extraction.extractor import load_model
        from pipelines.extraction.geocoding import load_gazetteer
        from pipelines.deduplication import _permutations
        from pipelines.pipeline import Pipeline
        from pipelines.settings import Settings
        from airflow.sdk.listener import get_listener_manager
        import sys
        shared = Pipeline.shared(Settings.from_env())
        print("PRELOADED", load_model.cache_info().currsize, load_gazetteer.cache_info().currsize,
              _permutations.cache_info().currsize, get_listener_manager.cache_info().currsize,
              shared._client is None, "pipelines.orchestration.tasks" in sys.modules, "elasticsearch" in sys.modules,
              len(load_gazetteer().local._by_country) > 200)  # every country's towns: not rebuilt per task
    """)
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=300, check=True)
    (line,) = [line for line in done.stdout.splitlines() if line.startswith("PRELOADED")]  # plugins log lines too
    assert line.split()[1:] == ["1", "1", "1", "1", "True", "True", "True", "True"], done.stderr[-2000:]


def test_airflow_cfg_preloads_it_for_the_schedulers_workers():
    config = (PROJECT_ROOT / "airflow.cfg").read_text()
    scheduler = config.split("[scheduler]", 1)[1].split("\n[", 1)[0]
    assert "mp_start_method = forkserver" in scheduler
    assert "mp_forkserver_preload = pipelines.orchestration.worker_preload" in scheduler
