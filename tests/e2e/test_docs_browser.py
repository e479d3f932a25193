"""/docs and /redoc render their operations in a real browser with no internet: every asset is served by the
stack itself. Headless Chromium (Debian's package) loads each page from the embedded stack with every host but
loopback unresolvable, and the rendered DOM must hold the operations."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import Target

pytestmark = pytest.mark.skipif(
    bool(os.environ.get("PLUTUS_API_URL")), reason="loads the embedded stack's pages (loopback only)"
)

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    # No CDN can answer: a page that still loads its scripts from one renders nothing.
    "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
    # Run the page's scripts for up to 20 s of virtual time (rendering ends sooner), then dump the DOM.
    "--virtual-time-budget=20000",
]


def find_or_install_chromium() -> str:
    """Debian's chromium; installed with apt-get when missing and run as root (CI: a fresh machine)."""
    found = shutil.which("chromium")
    if found:
        return found
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        pytest.skip("chromium is not installed (apt-get install chromium, or make browser, as root)")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    lock = ["-o", "DPkg::Lock::Timeout=600"]
    subprocess.run(["apt-get", *lock, "update", "-q"], check=True, env=env, capture_output=True, timeout=900)
    subprocess.run(
        ["apt-get", "install", "-y", "-q", "--no-install-recommends", *lock, "chromium"],
        check=True,
        env=env,
        capture_output=True,
        timeout=1800,
    )
    found = shutil.which("chromium")
    assert found, "apt-get installed chromium but it is not on PATH"
    return found


@pytest.fixture(scope="module")
def chromium() -> str:
    return find_or_install_chromium()


def rendered(chromium: str, url: str, profile: Path) -> str:
    """The DOM of ``url`` after its scripts ran, from a fresh browser profile."""
    done = subprocess.run(
        [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "--dump-dom", url],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def test_swagger_ui_renders_the_operations_offline(chromium: str, target: Target, tmp_path: Path) -> None:
    dom = rendered(chromium, target.url + "/docs", tmp_path)

    paths = set(re.findall(r'class="opblock-summary-path" data-path="([^"]+)"', dom))
    assert {"/api/v1/ingest", "/api/v1/ingest/batch", "/api/v1/events/{event_id}"} <= paths, dom[:2000]
    assert 'class="opblock opblock-post' in dom


def test_redoc_renders_the_operations_offline(chromium: str, target: Target, tmp_path: Path) -> None:
    dom = rendered(chromium, target.url + "/redoc", tmp_path)

    operations = set(re.findall(r'data-section-id="operation/([^"]+)"', dom))
    assert {"ingest_api_v1_ingest_post", "ingest_batch_api_v1_ingest_batch_post"} <= operations, dom[:2000]


def test_the_pages_name_no_other_host_and_the_assets_are_served(api: httpx.Client) -> None:
    for page in ("/docs", "/redoc"):
        html = api.get(page).text
        assert "http://" not in html and "https://" not in html, html
    script = api.get("/static/docs/swagger-ui-bundle.js")
    assert script.status_code == 200
    assert script.headers["content-type"].startswith("text/javascript")
    assert len(script.content) > 100_000
    # Only the listed assets: nothing else under the package's directory is reachable
    assert api.get("/static/docs/core.py").status_code == 404
    assert api.get("/static/docs/..%2F__init__.py").status_code == 404
