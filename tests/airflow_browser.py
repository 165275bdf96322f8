"""Drive the real Airflow UI with Debian's chromium through Playwright (its own browser
download is not used). Reusable for any DAG's trigger form:

    with airflow_browser(airflow_services) as page:
        run_id = trigger_from_form(page, airflow_services, "newsflow_folder", {"folder": "/data/x"})
        airflow_services.wait_for_run("newsflow_folder", run_id)
        see_run_state(page, airflow_services, "newsflow_folder", run_id, "success")
        screenshot(page, "folder-run")

Params are filled by name (the form names each input ``element_<param>``); date params take
``YYYY-MM-DD``. Screenshots go to ``test-artifacts/`` (git-ignored).
"""

from __future__ import annotations

import os
import re
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from airflow_services import AirflowServices, AirflowServiceError

from pipelines.settings import PROJECT_ROOT

ARTIFACTS = PROJECT_ROOT / "test-artifacts"


def chromium_executable() -> str:
    """The system chromium (``scripts/bootstrap`` installs Debian's); ``NEWSFLOW_CHROMIUM`` overrides."""
    found = os.environ.get("NEWSFLOW_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if not found:
        raise AirflowServiceError("no chromium on PATH: run scripts/bootstrap as root (apt-get install chromium) "
                                  "or set NEWSFLOW_CHROMIUM")
    return found


def screenshot(page, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


@contextmanager
def airflow_browser(services: AirflowServices, *, timeout_ms: int = 30_000) -> Iterator:
    """A chromium page logged into the Airflow UI as the harness's admin."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_executable(), args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.set_default_timeout(timeout_ms)
            login(page, services)
            yield page
        finally:
            browser.close()


def login(page, services: AirflowServices) -> None:
    page.goto(f"{services.base_url}/")
    page.wait_for_url(re.compile(r"/auth/login"))
    page.locator("input[name=username]").fill(services.username)
    page.locator("input[name=password]").fill(services.password)
    page.locator("input[name=password]").press("Enter")
    page.wait_for_url(lambda url: "/auth/login" not in url)


def open_trigger_form(page, services: AirflowServices, dag_id: str) -> None:
    page.goto(f"{services.base_url}/dags/{dag_id}")
    page.get_by_role("button", name="Trigger").first.click()
    page.get_by_role("dialog").wait_for()


def fill_params(page, params: dict[str, str]) -> None:
    for name, value in params.items():
        page.get_by_role("dialog").locator(f"[name='element_{name}']").fill(str(value))


def trigger_from_form(page, services: AirflowServices, dag_id: str, params: dict[str, str], *,
                      timeout_s: float = 30) -> str:
    """Open the trigger form, fill ``params``, press Trigger; returns the run the UI created."""
    before = {run["dag_run_id"] for run in services.dag_runs(dag_id)}
    open_trigger_form(page, services, dag_id)
    fill_params(page, params)
    page.get_by_role("dialog").get_by_role("button", name="Trigger").click()
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        new = [run for run in services.dag_runs(dag_id) if run["dag_run_id"] not in before]
        if new:
            return new[0]["dag_run_id"]
        time.sleep(0.5)
    screenshot(page, f"{dag_id}-trigger-failed")
    raise AirflowServiceError(f"the trigger form of {dag_id} created no run within {timeout_s:.0f}s")


def see_run_state(page, services: AirflowServices, dag_id: str, run_id: str, state: str) -> None:
    """Open the run's page and wait until the UI shows ``state`` for it."""
    page.goto(f"{services.base_url}/dags/{dag_id}/runs/{run_id}")
    page.get_by_text(re.compile(rf"^\s*{re.escape(state)}\s*$", re.IGNORECASE)).first.wait_for()


OPERATIONS_PAGE = "newsflow operations"


def open_operations_page(page, services: AirflowServices):
    """From the UI's home, as a person would: Browse → newsflow operations; the page Airflow
    embeds there (a frame of its ``/plugin/…`` route), once its content is in."""
    page.goto(f"{services.base_url}/")
    page.get_by_role("button", name="Browse").click()
    page.get_by_role("menuitem", name=OPERATIONS_PAGE).click()
    page.wait_for_url(re.compile(r"/plugin/newsflow-operations$"))
    frame = page.frame_locator("iframe")
    frame.get_by_role("heading", name=OPERATIONS_PAGE).wait_for()
    return frame


def screenshot_operations_page(page, frame, name: str = "newsflow-operations-in-airflow") -> Path:
    """The whole embedded page inside Airflow's shell: the window grown to the frame's content first."""
    content_height = frame.locator("body").evaluate("body => body.scrollHeight")
    frame_top = page.locator("iframe").bounding_box()["y"]
    page.set_viewport_size({"width": 1400, "height": min(int(frame_top + content_height) + 40, 8000)})
    page.wait_for_timeout(300)  # the UI lays the frame out again
    return screenshot(page, name)
