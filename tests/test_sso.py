"""Single sign-on as the docker-compose deployment configures it: JupyterHub's
GenericOAuthenticator (OAuthenticator) against a Keycloak realm, in a real browser.

No Keycloak server can be installed here, so the realm the deployment imports
(deploy/keycloak/realm-jupyterhub.json: its client, users, passwords and groups) is
served by a certified OpenID Connect provider, npm's ``oidc-provider``
(tests/oidc/provider.mjs, installed by ``make oidc-provider``), at Keycloak's endpoint
paths and with Keycloak's ``groups`` claim. The Hub runs jupyterhub_config.py with
``JUPYTERHUB_TEMPLATES_AUTHENTICATOR=keycloak``; headless Chromium signs in through the
provider's login form. Mocked: Keycloak itself (its admin console, its own login pages).
"""

from __future__ import annotations

import json
import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from fixtures.browser import LAB_TIMEOUT, wait_for_lab
from fixtures.hub import Hub, free_port, start_managed_hub, stop_process, wait_for_http
from notebooks import make_notebook
from playwright.sync_api import expect

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[1]
REALM_FILE = ROOT / "deploy" / "keycloak" / "realm-jupyterhub.json"
PROVIDER = ROOT / "tests" / "oidc" / "provider.mjs"
PANEL = "#jp-templates-panel"
REALM = json.loads(REALM_FILE.read_text())
CLIENT = next(c for c in REALM["clients"] if c["clientId"] == "jupyterhub")


def password_of(username: str) -> str:
    user = next(u for u in REALM["users"] if u["username"] == username)
    return next(c["value"] for c in user["credentials"] if c["type"] == "password")


@pytest.fixture(scope="module")
def sso_hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    if not (PROVIDER.parent / "node_modules" / "oidc-provider").exists():
        pytest.fail("npm's oidc-provider is not installed: `make test` installs it")
    workdir = tmp_path_factory.mktemp("sso")
    hub_port, provider_port = free_port(), free_port()
    hub_url = f"http://127.0.0.1:{hub_port}"
    issuer = f"http://127.0.0.1:{provider_port}/realms/{REALM['realm']}"
    log = workdir / "provider.log"
    provider = subprocess.Popen(
        ["node", str(PROVIDER)],
        env={
            "PATH": "/usr/bin:/bin:/usr/local/bin",
            "REALM_FILE": str(REALM_FILE),
            "PORT": str(provider_port),
            # the realm names the deployment's address; the test Hub has its own
            "EXTRA_REDIRECT_URIS": f"{hub_url}/hub/oauth_callback",
            "EXTRA_POST_LOGOUT_URIS": f"{hub_url}/hub/login",
        },
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        wait_for_http(f"{issuer}/.well-known/openid-configuration", 30, provider, log)
        (workdir / "hub").mkdir()
        hub = start_managed_hub(
            workdir / "hub",
            extra_env={
                "JUPYTERHUB_TEMPLATES_AUTHENTICATOR": "keycloak",
                "JUPYTERHUB_TEMPLATES_OIDC_ISSUER": issuer,
                "JUPYTERHUB_TEMPLATES_OIDC_CLIENT_SECRET": CLIENT["secret"],
                "JUPYTERHUB_PUBLIC_URL": hub_url,
                "JUPYTERHUB_TEMPLATES_LOAD_EXAMPLES": "1",
            },
            port=hub_port,
        )
        try:
            yield hub
        finally:
            stop_process(hub.proc)
    finally:
        stop_process(provider)


def sign_in(page, hub: Hub, username: str, password: str) -> None:
    """From the Hub's login page through the provider's form (Keycloak's field ids)."""
    page.goto(f"{hub.url}/hub/login")
    page.get_by_text("Sign in with Keycloak").click()
    page.locator("#username").fill(username)
    page.locator("#password").fill(password)
    page.locator("#kc-login").click()


def open_panel(page):
    panel = page.locator(PANEL)
    if not panel.is_visible():
        page.locator(f'.jp-SideBar [data-id="{PANEL[1:]}"]').click()
    expect(panel).to_be_visible()
    expect(panel.locator("li.jp-Templates-card[data-template-name]").first).to_be_visible()
    return panel


def hub_groups(hub: Hub, username: str) -> set[str]:
    r = hub.api("GET", f"/users/{username}")
    assert r.status_code == 200, r.text
    return set(r.json()["groups"])


def test_a_template_admin_signs_in_and_uploads(sso_hub: Hub, page_factory) -> None:
    """carol is in Keycloak's group template-admins (and no Hub admin, and in no Hub
    group before she signs in): after signing in she holds the group, and the Lab panel
    lets her upload."""
    hub = sso_hub
    assert "template-admins" not in hub_groups(hub, "carol")
    page = page_factory("carol")
    sign_in(page, hub, "carol", password_of("carol"))
    page.wait_for_url(re.compile(r"/user/carol/lab"), timeout=LAB_TIMEOUT)
    wait_for_lab(page)
    assert {"template-admins", "jupyterhub-users"} <= hub_groups(hub, "carol")
    panel = open_panel(page)
    upload = panel.locator(".jp-Templates-upload")
    expect(upload).to_be_visible()
    upload.locator('input[type="file"][name="file"]').set_input_files(
        {
            "name": "sso_report.ipynb",
            "mimeType": "application/x-ipynb+json",
            "buffer": make_notebook(),
        }
    )
    upload.locator('input[name="category"]').fill("sso")
    upload.get_by_role("button", name="Upload", exact=True).click()
    expect(
        panel.locator('li.jp-Templates-card[data-template-name="sso/sso_report.ipynb"]')
    ).to_be_visible()


def test_a_user_outside_the_group_sees_no_admin_control(sso_hub: Hub, page_factory) -> None:
    hub = sso_hub
    page = page_factory("alice")
    whoami = []
    root = re.compile(r"/services/templates/(\?.*)?$")
    page.on("response", lambda r: whoami.append(r) if root.search(r.url) else None)
    sign_in(page, hub, "alice", password_of("alice"))
    page.wait_for_url(re.compile(r"/user/alice/lab"), timeout=LAB_TIMEOUT)
    wait_for_lab(page)
    assert hub_groups(hub, "alice") == {"jupyterhub-users"}
    panel = open_panel(page)
    deadline = time.monotonic() + 15
    while not whoami:  # the panel decides on admin controls from this answer
        assert time.monotonic() < deadline, "the panel never asked the service who alice is"
        page.wait_for_timeout(200)
    assert whoami[-1].ok and whoami[-1].json()["templates_admin"] is False
    expect(panel.locator(".jp-Templates-upload")).to_have_count(0)
    r = requests.post(
        hub.service_url + "minio/upload-template",
        headers={"Authorization": f"token {hub.tokens['alice']}"},
        files={"file": ("nope.ipynb", make_notebook())},
        data={"category": "sso"},
        timeout=60,
    )
    assert r.status_code == 403, r.text
    assert r.json()["status"] == "error"


def test_a_wrong_password_signs_nobody_in(sso_hub: Hub, page_factory) -> None:
    hub = sso_hub
    page = page_factory("wrong")
    sign_in(page, hub, "alice", "not-" + password_of("alice"))
    expect(page.get_by_text("Invalid username or password")).to_be_visible()
    expect(page.locator("#kc-login")).to_be_visible()  # the provider's form, again
    assert "/hub/" not in page.url
    r = page.request.get(f"{hub.url}/hub/api/user")
    assert r.status == 403


def test_signing_out_goes_through_keycloak(sso_hub: Hub, page_factory) -> None:
    hub = sso_hub
    page = page_factory("logout")
    sign_in(page, hub, "alice", password_of("alice"))
    page.wait_for_url(re.compile(r"/user/alice/"), timeout=LAB_TIMEOUT)
    page.goto(f"{hub.url}/hub/logout")
    # the provider asks to confirm, as Keycloak does, then sends the browser back
    page.locator("#kc-logout").click()
    page.wait_for_url(re.compile(r"/hub/login"), timeout=30_000)
    r = page.request.get(f"{hub.url}/hub/api/user")
    assert r.status == 403
    # signed out of the provider too: signing in again asks for the password
    page.goto(f"{hub.url}/hub/login")
    page.get_by_text("Sign in with Keycloak").click()
    expect(page.locator("#password")).to_be_visible()
