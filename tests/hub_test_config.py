"""JupyterHub config for the tests: the project's own jupyterhub_config.py, plus a
harness service whose token creates users and mints their tokens."""

import os

c = get_config()  # noqa: F821
load_subconfig(os.environ["TEMPLATES_PROJECT_CONFIG"])  # noqa: F821

c.JupyterHub.services.append(
    {"name": "test-harness", "api_token": os.environ["TEMPLATES_TEST_HARNESS_TOKEN"]}
)
c.JupyterHub.load_roles.append(
    {
        "name": "test-harness",
        "services": ["test-harness"],
        "scopes": ["admin:users", "tokens", "admin:servers", "read:roles", "groups"],
    }
)

# Members of the group alice-helpers may reach alice's server (and so may act for her
# through the service), whatever their other roles. (Not with single sign-on, where the
# identity provider owns every group.)
if os.environ.get("JUPYTERHUB_TEMPLATES_AUTHENTICATOR", "dummy") == "dummy":
    c.JupyterHub.load_groups["alice-helpers"] = {"users": []}
    c.JupyterHub.load_roles.append(
        {
            "name": "alice-helpers",
            "scopes": ["access:servers!user=alice", "access:services!service=templates"],
            "groups": ["alice-helpers"],
        }
    )

# TEMPLATES_TEST_DEBUG=1 (tests/test_secrets.py): every log at DEBUG, the Hub's, the
# proxy's and the single-user servers' (their output goes to the Hub's log).
if os.environ.get("TEMPLATES_TEST_DEBUG") == "1":
    c.JupyterHub.log_level = "DEBUG"
    c.ConfigurableHTTPProxy.debug = True
    c.Spawner.debug = True

# Tokens may live 10 days at most (as a deployment may cap them): the service's server
# tokens must fit under such a cap (tests/test_user_isolation.py).
c.JupyterHub.token_expires_in_max_seconds = 10 * 86400

# TEMPLATES_TEST_ACTIVITY_INTERVAL=N (tests/test_run_server.py): users' servers report
# their activity to the Hub every N seconds, and the server extension counts a running
# execution as activity as often, so that a short culler timeout can be tested.
if os.environ.get("TEMPLATES_TEST_ACTIVITY_INTERVAL"):
    interval = os.environ["TEMPLATES_TEST_ACTIVITY_INTERVAL"]
    c.Spawner.environment = {"JUPYTERHUB_ACTIVITY_INTERVAL": interval}
    c.Spawner.args = [*c.Spawner.args, f"--TemplatesExtensionApp.activity_interval={interval}"]
