"""The Kubernetes deployment (deploy/z2jh/), as far as a machine without a cluster can
check it.

Run: the manifests of the service (Secret, Deployment, Service, PodDisruptionBudget)
checked against Kubernetes' own schemas, strictly (``kubernetes-validate``, which carries
them; ``kubectl --dry-run=client`` needs an API server); a replica's configuration read
from the Deployment's environment; the Hub configuration that the chart makes of
values.yaml, loaded by a real JupyterHub with ``jupyterhub-kubespawner`` installed, and
the authenticator and KubeSpawner built from it (trait validation; a kubeconfig that
points nowhere, since no cluster runs). Not run: ``helm install`` and the pods.

The chart (jupyterhub 4.x) is not installed here: ``chart_config`` applies its
documented mapping of the values this deployment sets, and refuses any other key, so
nothing in values.yaml goes unchecked.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from deploy_configs import load_in_subprocess, service_settings

ROOT = Path(__file__).resolve().parents[1]
Z2JH = ROOT / "deploy" / "z2jh"


def manifests() -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all((Z2JH / "templates-service.yaml").read_text()) if d]


def values() -> dict[str, Any]:
    return yaml.safe_load((Z2JH / "values.yaml").read_text())


def secret() -> dict[str, str]:
    return next(d for d in manifests() if d["kind"] == "Secret")["stringData"]


def deployment() -> dict[str, Any]:
    return next(d for d in manifests() if d["kind"] == "Deployment")


def test_the_manifests_follow_the_kubernetes_schemas() -> None:
    docs = manifests()
    assert [d["kind"] for d in docs] == ["Secret", "Deployment", "Service", "PodDisruptionBudget"]
    for doc in docs:
        kubernetes_validate.validate(doc, "1.30", strict=True)
    # the check is a real one: a misspelt field fails it
    broken = json.loads(json.dumps(deployment()))
    broken["spec"]["replica"] = broken["spec"].pop("replicas")
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, "1.30", strict=True)


def test_the_service_runs_as_replicas_behind_its_service() -> None:
    spec = deployment()["spec"]
    assert spec["replicas"] >= 2
    pod = spec["template"]
    annotations = pod["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true"
    assert annotations["prometheus.io/path"] == "/services/templates/metrics"
    container = pod["spec"]["containers"][0]
    assert container["readinessProbe"]["httpGet"]["path"] == "/services/templates/health"
    # SIGTERM: the service finishes what it answers (shutdown_timeout 25 s) before the kill
    assert pod["spec"]["terminationGracePeriodSeconds"] > 25
    service = next(d for d in manifests() if d["kind"] == "Service")
    assert service["spec"]["selector"] == spec["selector"]["matchLabels"]
    port = service["spec"]["ports"][0]["port"]
    # the Hub's proxy sends /services/templates/ to that Service
    assert values()["hub"]["services"]["templates"]["url"] == f"http://templates:{port}"
    # no secret in the Deployment: each comes from the Secret
    for variable in container["env"]:
        if any(word in variable["name"] for word in ("TOKEN", "SECRET", "DB_URL", "KEY")):
            assert "valueFrom" in variable, variable["name"]
    assert all(v.startswith("change-me") or "change-me" in v for v in secret().values())


def container_env() -> dict[str, str]:
    """The Deployment's environment, with the Secret's values filled in."""
    env = {}
    for variable in deployment()["spec"]["template"]["spec"]["containers"][0]["env"]:
        if "valueFrom" in variable:
            env[variable["name"]] = secret()[variable["valueFrom"]["secretKeyRef"]["key"]]
        else:
            env[variable["name"]] = str(variable["value"])
    return env


def test_a_replica_reads_its_configuration_from_the_deployment(tmp_path: Path) -> None:
    loaded = service_settings(container_env(), tmp_path)
    assert loaded["db_url"] == "postgres:5432/notebook_manager"
    assert loaded["bind_url"].startswith("http://0.0.0.0:8002/services/templates/")
    assert loaded["proxy_url"] == "http://proxy-public:80"
    assert loaded["endpoint"] == "minio:9000"
    assert loaded["public_endpoint"] == "https://s3.example.org"
    assert loaded["access_key_set"] and loaded["secret_key_set"]
    # runs go to each user's run server, started with the profile of its own resources
    assert loaded["run_server"] == "templates-runs"
    assert loaded["run_server_options"] == {"profile": "templates-runs"}


# -- the Hub's configuration, as the chart makes it of the values ------------------------

SINGLEUSER_TRAITS = {  # singleuser.<key> -> KubeSpawner trait, as the chart maps them
    ("defaultUrl",): "default_url",
    ("cpu", "limit"): "cpu_limit",
    ("cpu", "guarantee"): "cpu_guarantee",
    ("memory", "limit"): "mem_limit",
    ("memory", "guarantee"): "mem_guarantee",
    ("storage", "dynamic", "pvcNameTemplate"): "pvc_name_template",
    ("profileList",): "profile_list",
}


def _pruned(node: Any) -> Any:
    """``node`` without its empty dicts (what a mapping has consumed)."""
    if not isinstance(node, dict):
        return node
    kept = {k: _pruned(v) for k, v in node.items()}
    return {k: v for k, v in kept.items() if v not in ({}, None)}


def chart_config(chart_values: dict[str, Any]) -> str:
    """A jupyterhub_config.py doing what the chart's does with these values: hub.config
    passed through, hub.services and hub.loadRoles as lists named by their keys,
    singleuser.* onto KubeSpawner, cull as the idle culler service with its role,
    hub.extraConfig run last. Any other key is refused (KeyError)."""
    hub = dict(chart_values["hub"])
    lines = ["c = get_config()  # noqa: F821"]
    for cls, traits in hub.pop("config").items():
        for trait, value in traits.items():
            lines.append(f"c.{cls}.{trait} = {value!r}")
    services = []
    for name, service in hub.pop("services").items():
        service = {"name": name, **service}
        if "apiToken" in service:
            service["api_token"] = service.pop("apiToken")
        services.append(service)
    roles = [{"name": name, **role} for name, role in hub.pop("loadRoles").items()]
    hub.pop("extraEnv")  # the pod's environment: see hub_environment
    hub.pop("service")  # the hub's Kubernetes Service (annotations): no config
    extra = hub.pop("extraConfig")
    lines.append(f"c.JupyterHub.allow_named_servers = {hub.pop('allowNamedServers', False)!r}")
    assert not hub, f"values the chart mapping here does not know: hub.{sorted(hub)}"
    singleuser = dict(chart_values["singleuser"])
    image = singleuser.pop("image")
    lines.append(f"c.KubeSpawner.image = {image['name'] + ':' + image['tag']!r}")
    for path, trait in SINGLEUSER_TRAITS.items():
        node: Any = singleuser
        for key in path[:-1]:
            node = node.get(key, {})
        if path[-1] in node:
            lines.append(f"c.KubeSpawner.{trait} = {node.pop(path[-1])!r}")
    leftovers = _pruned(singleuser)
    assert not leftovers, f"values the chart mapping here does not know: singleuser.{leftovers}"
    cull = dict(chart_values["cull"])
    if cull.pop("enabled"):
        services.append(
            {
                "name": "jupyterhub-idle-culler",
                "command": [
                    "python3",
                    "-m",
                    "jupyterhub_idle_culler",
                    "--url=http://localhost:8081/hub/api",
                    f"--timeout={cull.pop('timeout')}",
                    f"--cull-every={cull.pop('every')}",
                ],
            }
        )
        roles.append(
            {
                "name": "jupyterhub-idle-culler",
                "services": ["jupyterhub-idle-culler"],
                "scopes": ["list:users", "read:users:activity", "read:servers", "delete:servers"],
            }
        )
    assert not cull, f"values the chart mapping here does not know: cull.{sorted(cull)}"
    lines.append(f"c.JupyterHub.services = {services!r}")
    lines.append(f"c.JupyterHub.load_roles = {roles!r}")
    lines.extend(extra.values())
    return "\n".join(lines) + "\n"


def hub_environment(chart_values: dict[str, Any]) -> dict[str, str]:
    env = {}
    for name, variable in chart_values["hub"]["extraEnv"].items():
        env[name] = secret()[variable["valueFrom"]["secretKeyRef"]["key"]]
    return env


HUB_LOADER = """
import asyncio, json, os, sys
from types import SimpleNamespace
from jupyterhub.app import JupyterHub
from oauthenticator.generic import GenericOAuthenticator
from kubespawner import KubeSpawner

hub = JupyterHub()
hub.load_config_file(sys.argv[1])
cfg = hub.config
auth = GenericOAuthenticator(config=cfg)

async def spawner():
    alice = SimpleNamespace(name="alice", id=1, url="/user/alice/", escaped_name="alice")
    s = KubeSpawner(config=cfg, user=alice, _mock=True)
    await s.api.api_client.close()
    return s

s = asyncio.run(spawner())

async def run_server(options):
    # the spawner of a run server, started with the service's user_options
    alice = SimpleNamespace(name="alice", id=1, url="/user/alice/", escaped_name="alice")
    r = KubeSpawner(config=cfg, user=alice, _mock=True, name="templates-runs")
    r.user_options = options
    await r.load_user_options()
    await r.api.api_client.close()
    return r

r = asyncio.run(run_server(json.loads(os.environ["RUN_SERVER_OPTIONS"])))
import jupyterhub_idle_culler  # the culler the chart runs must be installed
print(json.dumps({
    "authenticator_class": cfg.JupyterHub.authenticator_class,
    "custom_scopes": list(cfg.JupyterHub.custom_scopes),
    "client_secret": auth.client_secret,
    "manage_groups": auth.manage_groups,
    "allowed_groups": sorted(auth.allowed_groups),
    "image": s.image,
    "default_url": s.default_url,
    "cpu_limit": s.cpu_limit,
    "mem_limit": s.mem_limit,
    "allow_named_servers": cfg.JupyterHub.allow_named_servers,
    "pvc_name_template": s.pvc_name_template,
    "run_server_mem_limit": r.mem_limit,
    "run_server_cpu_limit": r.cpu_limit,
    "scopes": list(s.oauth_client_allowed_scopes),
    "services": cfg.JupyterHub.services,
    "roles": cfg.JupyterHub.load_roles,
}))
"""


def test_the_hub_config_the_values_make_loads_with_kubespawner(tmp_path: Path) -> None:
    chart_values = values()
    config = tmp_path / "jupyterhub_config.py"
    config.write_text(chart_config(chart_values))
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "none", "cluster": {"server": "https://127.0.0.1:9"}}],
                "users": [{"name": "none", "user": {"token": "unused"}}],
                "contexts": [{"name": "none", "context": {"cluster": "none", "user": "none"}}],
                "current-context": "none",
            }
        )
    )
    env = {
        **hub_environment(chart_values),
        "KUBECONFIG": str(kubeconfig),
        "RUN_SERVER_OPTIONS": container_env()["JUPYTERHUB_TEMPLATES_RUN_SERVER_OPTIONS"],
    }
    code = HUB_LOADER.replace("sys.argv[1]", repr(str(config)))
    loaded = load_in_subprocess(code, env, tmp_path)
    assert loaded["authenticator_class"] == "generic-oauth"
    assert loaded["custom_scopes"] == ["custom:templates:admin"]
    assert loaded["client_secret"] == secret()["oidc-client-secret"]  # from the Secret
    assert loaded["manage_groups"] is True
    assert "template-admins" in loaded["allowed_groups"]
    assert loaded["image"] == "jupyterhub-templates-singleuser:latest"
    assert loaded["default_url"] == "/lab"
    assert loaded["cpu_limit"] == 2.0 and loaded["mem_limit"] == 4 * 1024**3
    # the run server: a named server with the user's volume, and with the service's
    # user_options the profile of its own resources
    assert loaded["allow_named_servers"] is True
    assert loaded["pvc_name_template"] == "claim-{username}"
    assert loaded["run_server_cpu_limit"] == 4.0
    assert loaded["run_server_mem_limit"] == 16 * 1024**3
    assert set(loaded["scopes"]) == {"access:services!service=templates", "custom:templates:admin"}
    services = {s["name"]: s for s in loaded["services"]}
    templates = services["templates"]
    assert templates["url"] == "http://templates:8002" and "command" not in templates
    assert templates["api_token"] == secret()["api-token"]  # from the Secret
    assert "--timeout=3600" in services["jupyterhub-idle-culler"]["command"]
    roles = {r["name"]: r for r in loaded["roles"]}
    assert roles["templates-admin"]["groups"] == ["template-admins"]
    assert "custom:templates:admin" in roles["templates-admin"]["scopes"]
    assert roles["templates-service"]["services"] == ["templates"]
    # the same role as the docker-compose deployment's jupyterhub_config.py
    assert set(roles["templates-service"]["scopes"]) == {
        "read:users",
        "read:servers",
        "servers",
        "tokens",
    }


def test_the_hub_is_scraped_too() -> None:
    annotations = values()["hub"]["service"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true"
    assert annotations["prometheus.io/path"] == "/hub/metrics"
