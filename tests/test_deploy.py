"""The docker-compose deployment (deploy/), as far as a machine without a Docker engine
can check it.

Run: Debian's ``docker-compose config`` on the compose file with the example ``.env``
(the file's syntax, every variable defined, the services, ports, volumes and health
checks); JupyterHub's own config loader on ``jupyterhub_config.py`` with the hub
container's environment, and the authenticator and spawner it names built from that
configuration (OAuthenticator's GenericOAuthenticator, DockerSpawner); the templates
service's configuration with a replica's environment; haproxy's own check of its file;
the shell syntax of the database set-up script. Not run: building the images and
starting the containers (no Docker engine here).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import urllib.parse
from pathlib import Path
from typing import Any

import pytest
import yaml
from deploy_configs import load_in_subprocess, service_settings

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
COMPOSE = shutil.which("docker-compose")
HAPROXY = Path("/usr/sbin/haproxy")


def compose_config(*args: str) -> tuple[dict[str, Any], str]:
    """``docker-compose config`` of the deployment with the example .env: the resolved
    file, and what it warned."""
    if COMPOSE is None:
        pytest.fail("Debian's docker-compose is not installed: `make test` installs it")
    proc = subprocess.run(
        [COMPOSE, "--env-file", str(DEPLOY / ".env.example"), *args, "config"],
        cwd=DEPLOY,
        capture_output=True,
        text=True,
        timeout=120,
        env={k: v for k, v in os.environ.items() if not k.startswith("COMPOSE_")},
    )
    assert proc.returncode == 0, proc.stderr
    return yaml.safe_load(proc.stdout), proc.stderr


def example_env() -> dict[str, str]:
    values = {}
    for line in (DEPLOY / ".env.example").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, value = line.partition("=")
            values[name.strip()] = value.strip()
    return values


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    config, warnings = compose_config("--profile", "analytics")
    # a variable the file uses and .env does not define would be an empty string
    assert "is not set" not in warnings, warnings
    return config


def test_the_compose_file_has_every_part(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert {
        "postgres",
        "minio",
        "mlflow",
        "keycloak",
        "hub",
        "singleuser-image",
        "templates-1",
        "templates-2",
        "templates",
        "superset",
    } <= set(services)
    # the original design's ports
    published = {
        name: {int(p["published"]) for p in s.get("ports", [])} for name, s in services.items()
    }
    assert published["hub"] == {8000}
    assert published["templates"] == {8002}
    assert published["minio"] == {9000, 9001}
    assert published["postgres"] == {5432}
    assert published["mlflow"] == {5000}
    assert published["keycloak"] == {8080}
    assert published["superset"] == {8088}
    # state in named volumes
    assert {"postgres-data", "minio-data", "keycloak-data", "hub-state"} <= set(compose["volumes"])
    for name in ("postgres", "minio", "keycloak", "hub"):
        # "source:target[:mode]"; a named volume's source is no path
        mounts = [v for v in services[name]["volumes"] if not v.startswith(("/", "."))]
        assert mounts, name
    # every long-running part says when it is healthy (haproxy's image has no client to
    # ask it with; haproxy itself checks the replicas), and waits for what it needs
    for name, service in services.items():
        if name not in ("singleuser-image", "templates"):
            assert "healthcheck" in service, name
    assert services["hub"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    # Superset only with its profile (docker-compose 1.29's config lists every service)
    profiled = {name: s["profiles"] for name, s in services.items() if "profiles" in s}
    assert profiled == {"superset": ["analytics"]}
    # Superset starts through the deployment's bootstrap, mounted from deploy/superset
    # (tests/test_superset.py runs it), and reads the service's database without a
    # password in its address (superset_config.py adds it at connect time)
    superset = services["superset"]
    (mount,) = superset["volumes"]
    source, target = mount.split(":")[:2]
    assert Path(source) == DEPLOY / "superset"
    assert superset["command"][0].startswith(target + "/")
    script = DEPLOY / "superset" / Path(superset["command"][0]).relative_to(target)
    assert os.access(script, os.X_OK)
    assert superset["environment"]["SUPERSET_CONFIG_PATH"].startswith(target + "/")
    address = superset["environment"]["TEMPLATES_ANALYTICS_DB_URI"]
    assert urllib.parse.urlsplit(address).password is None
    assert (
        superset["environment"]["ANALYTICS_DB_PASSWORD"] == example_env()["ANALYTICS_DB_PASSWORD"]
    )


def test_secrets_come_from_env_and_the_example_holds_none(compose: dict[str, Any]) -> None:
    values = example_env()
    secret_names = [n for n in values if re.search(r"PASSWORD|SECRET|TOKEN", n)]
    assert len(secret_names) >= 10, secret_names
    for name in secret_names:
        assert values[name].startswith("change-me"), name
    text = (DEPLOY / "docker-compose.yml").read_text()
    # no literal secret in the compose file: every secret is a ${VARIABLE}
    for line in text.splitlines():
        if re.search(r"(PASSWORD|SECRET|TOKEN)\w*:", line) and "${" not in line:
            pytest.fail(f"a secret written into docker-compose.yml: {line.strip()}")
    hub_env = compose["services"]["hub"]["environment"]
    assert hub_env["JUPYTERHUB_TEMPLATES_API_TOKEN"] == values["TEMPLATES_API_TOKEN"]
    replica = compose["services"]["templates-1"]["environment"]
    assert replica["JUPYTERHUB_API_TOKEN"] == values["TEMPLATES_API_TOKEN"]
    assert compose["services"]["templates-2"]["environment"] == replica


HUB_LOADER = """
import json
from types import SimpleNamespace
from jupyterhub.app import JupyterHub
from oauthenticator.generic import GenericOAuthenticator
from dockerspawner import DockerSpawner

hub = JupyterHub()
hub.load_config_file({config!r})
cfg = hub.config
auth = GenericOAuthenticator(config=cfg)
alice = SimpleNamespace(name="alice", id=1, url="/user/alice/", escaped_name="alice")
spawner = DockerSpawner(config=cfg, user=alice)
services = cfg.JupyterHub.services
print(json.dumps({{
    "authenticator_class": cfg.JupyterHub.authenticator_class,
    "spawner_class": cfg.JupyterHub.spawner_class,
    "hub_ip": cfg.JupyterHub.hub_ip,
    "hub_connect_ip": cfg.JupyterHub.hub_connect_ip,
    "db_url": cfg.JupyterHub.db_url,
    "client_id": auth.client_id,
    "client_secret_set": bool(auth.client_secret),
    "authorize_url": auth.authorize_url,
    "token_url": auth.token_url,
    "userdata_url": auth.userdata_url,
    "logout_redirect_url": auth.logout_redirect_url,
    "oauth_callback_url": auth.oauth_callback_url,
    "username_claim": auth.username_claim,
    "manage_groups": auth.manage_groups,
    "allowed_groups": sorted(auth.allowed_groups),
    "admin_groups": sorted(auth.admin_groups),
    "groups_key": auth.auth_state_groups_key,
    "image": spawner.image,
    "network": spawner.network_name,
    "volumes": spawner.volume_binds,
    "notebook_dir": spawner.notebook_dir,
    "services": [{{k: v for k, v in s.items() if k != "api_token"}} for s in services],
    "service_token_set": bool(services[0].get("api_token")),
    "load_groups": cfg.JupyterHub.load_groups if "load_groups" in cfg.JupyterHub else None,
    "roles": [r["name"] for r in cfg.JupyterHub.load_roles],
}}))
"""


def test_the_hub_config_loads_with_the_compose_environment(
    compose: dict[str, Any], tmp_path: Path
) -> None:
    """JupyterHub's own loader reads jupyterhub_config.py with the hub container's
    environment; the authenticator it names is built from it (trait validation)."""
    env = {k: str(v) for k, v in compose["services"]["hub"]["environment"].items()}
    env["JUPYTERHUB_TEMPLATES_DEMO_DIR"] = str(tmp_path / "state")  # not /srv/jupyterhub
    loaded = load_in_subprocess(
        HUB_LOADER.format(config=str(ROOT / "jupyterhub_config.py")), env, tmp_path
    )
    values = example_env()
    issuer, public = values["OIDC_ISSUER"], values["OIDC_PUBLIC_ISSUER"]
    assert loaded["authenticator_class"] == "generic-oauth"
    assert loaded["spawner_class"] == "docker"
    assert loaded["hub_ip"] == "0.0.0.0" and loaded["hub_connect_ip"] == "hub"  # noqa: S104
    assert loaded["db_url"].startswith("postgresql+psycopg2://jupyterhub:")
    assert loaded["client_id"] == "jupyterhub" and loaded["client_secret_set"]
    # the browser goes to Keycloak's public address; the Hub calls it inside the network
    assert loaded["authorize_url"] == f"{public}/protocol/openid-connect/auth"
    assert loaded["token_url"] == f"{issuer}/protocol/openid-connect/token"
    assert loaded["userdata_url"] == f"{issuer}/protocol/openid-connect/userinfo"
    assert loaded["logout_redirect_url"].startswith(f"{public}/protocol/openid-connect/logout")
    assert loaded["oauth_callback_url"] == f"{values['PUBLIC_URL']}/hub/oauth_callback"
    assert loaded["username_claim"] == "preferred_username"
    assert loaded["manage_groups"] is True
    assert loaded["groups_key"] == "oauth_user.groups"
    assert "template-admins" in loaded["allowed_groups"]
    # Keycloak's groups are the Hub's: no group is loaded from the config
    assert loaded["load_groups"] is None
    assert "templates-admin" in loaded["roles"]
    assert loaded["image"] == "jupyterhub-templates-singleuser:latest"
    assert loaded["network"] == compose["networks"]["default"]["name"]
    # each user's files in a volume of their own, where their server opens
    assert loaded["volumes"] == {
        "jupyterhub-user-alice": {"bind": loaded["notebook_dir"], "mode": "rw"}
    }
    templates = loaded["services"][0]
    assert templates["name"] == "templates"
    assert templates["url"] == "http://templates:8002"  # haproxy, in front of the replicas
    assert "command" not in templates  # external: the Hub does not start it
    assert loaded["service_token_set"]


def test_a_replica_reads_its_configuration_from_the_compose_environment(
    compose: dict[str, Any], tmp_path: Path
) -> None:
    env = {k: str(v) for k, v in compose["services"]["templates-1"]["environment"].items()}
    loaded = service_settings(env, tmp_path)
    assert loaded["db_url"] == "postgres:5432/notebook_manager"
    assert "S3TemplateStore" in loaded["store_class"] or loaded["store_class"] == "s3"
    assert loaded["bind_url"].startswith("http://0.0.0.0:8002/services/templates/")
    assert loaded["proxy_url"] == "http://hub:8000"
    assert loaded["run_server"] == "templates-runs"
    assert loaded["endpoint"] == "minio:9000"
    assert loaded["public_endpoint"] == "localhost:9000"
    assert loaded["access_key_set"] and loaded["secret_key_set"]


def test_haproxy_accepts_its_file(tmp_path: Path) -> None:
    if not HAPROXY.exists():
        pytest.fail("Debian's haproxy is not installed: `make test` installs it")
    shutil.copytree(DEPLOY / "haproxy", tmp_path / "haproxy")
    cfg = tmp_path / "haproxy" / "haproxy.cfg"
    # the image's path of the error file, here
    cfg.write_text(cfg.read_text().replace("/usr/local/etc/haproxy", str(tmp_path / "haproxy")))
    proc = subprocess.run(
        [str(HAPROXY), "-c", "-f", str(cfg)], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    answer = (DEPLOY / "haproxy" / "templates-503.http").read_bytes()
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 503 ")
    assert json.loads(body)["status"] == "error"


def test_the_database_script_and_the_images_sources(compose: dict[str, Any]) -> None:
    script = DEPLOY / "postgres" / "init-databases.sh"
    assert subprocess.run(["bash", "-n", str(script)], timeout=30).returncode == 0
    # one database per component, each with its own password variable
    postgres_env = compose["services"]["postgres"]["environment"]
    for variable in re.findall(r'"\$(\w+_PASSWORD)"', script.read_text()):
        assert variable in postgres_env, variable
    # what the images copy from the repository exists
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    for line in dockerfile.splitlines():
        if line.startswith("COPY ") and "--from=" not in line:
            *sources, _target = line.split()[1:]
            for source in sources:
                assert (ROOT / source).exists() or source == ".", source
    # the realm the compose file imports has the Hub's client and the admins' group
    realm = json.loads((DEPLOY / "keycloak" / "realm-jupyterhub.json").read_text())
    assert realm["realm"] == "jupyterhub"
    assert [c["clientId"] for c in realm["clients"]] == ["jupyterhub"]
    assert "template-admins" in {g["name"] for g in realm["groups"]}
    assert example_env()["OIDC_ISSUER"].endswith(f"/realms/{realm['realm']}")
