"""What a run request to the server extension may be: checked before anything runs,
against the extension's settings (:class:`ExecutorConfig`), with the service's own rules
for paths (:mod:`jupyterhub_templates.notebooks.paths`) and parameters
(:mod:`jupyterhub_templates.catalog.parameters`), so the two cannot disagree.

Raises :mod:`jupyterhub_templates.errors` exceptions (400, 404, 409). The filesystem
checks block: :func:`prepare_paths` runs in a worker thread.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass, field
from typing import Any

from ..catalog.parameters import check_parameters, check_secrets
from ..errors import Conflict, InvalidInput, NotFound
from ..notebooks.paths import clean_path

ID_RE = re.compile(r"[A-Za-z0-9_-]{1,64}")
ENV_NAME_RE = re.compile(r"(MLFLOW_[A-Z0-9_]+|JUPYTERHUB_TEMPLATES_[A-Z0-9_]+)")
# the kernel spec name rule of jupyter_client (kernelspec._is_valid_kernel_name)
KERNEL_NAME_RE = re.compile(r"[a-z0-9._-]+", re.IGNORECASE)


@dataclass
class ExecutorConfig:
    """The extension's traits, as plain values (see ``TemplatesExtensionApp``)."""

    default_kernel_name: str = "mlflow_kernel"
    max_concurrent_executions: int = 1
    default_timeout: float = 3600.0
    max_timeout: float = 86400.0
    max_log_bytes: int = 1024 * 1024
    keep_finished: int = 500
    kill_grace: float = 2.0
    prestart_runners: int = 0
    prestart_kernels: bool = False


def normalize_api_path(value: Any, what: str) -> str:
    """Check a Jupyter API path and return it without its leading ``/``: the service's
    rules (:func:`jupyterhub_templates.notebooks.paths.clean_path`, hidden names and
    look-alike characters refused too) once one leading ``/`` is removed. Raises
    :class:`InvalidInput` (400)."""
    if isinstance(value, str) and value.startswith("/"):
        value = value[1:]
    return clean_path(value, what)


def resolve_in_root(root_dir: str, api_path: str, what: str) -> str:
    """The OS path of ``api_path``, symlinks resolved; 400 when it leaves ``root_dir``.

    Blocking (filesystem): call it from a worker thread.
    """
    root = os.path.realpath(root_dir)
    resolved = os.path.realpath(os.path.join(root, *api_path.split("/")))
    if os.path.commonpath([root, resolved]) != root:
        raise InvalidInput(f"{what} is outside the server root")
    return resolved


@dataclass
class Request:
    """A validated ``POST executions`` body (before the filesystem checks)."""

    id: str
    input_path: str
    output_path: str
    kernel_name: str
    parameters: dict[str, Any]
    timeout: float
    env: dict[str, str]
    #: replace a notebook already at ``output_path`` (always when the body names none:
    #: a run in place)
    overwrite: bool = False
    #: parameter names to secret values, for the kernel's environment only
    secrets: dict[str, str] = field(default_factory=dict)
    #: the kernel's limits: ``memory_bytes``, ``cpu_seconds`` (absent: none)
    limits: dict[str, float] = field(default_factory=dict)


def parse_request(body: Any, config: ExecutorConfig) -> Request:
    """Validate a ``POST executions`` body; raises :class:`InvalidInput` (400)."""
    if not isinstance(body, dict):
        raise InvalidInput("the body must be a JSON object")
    execution_id = body.get("id")
    if not isinstance(execution_id, str) or not ID_RE.fullmatch(execution_id):
        raise InvalidInput("id must be 1-64 characters of A-Z, a-z, 0-9, '_' and '-'")
    if "input_path" not in body:
        raise InvalidInput("input_path is required")
    input_path = normalize_api_path(body["input_path"], "input_path")
    raw_output = body.get("output_path")
    output_path = (
        input_path if raw_output is None else normalize_api_path(raw_output, "output_path")
    )
    # an input that is not a notebook gets its 404 from the filesystem checks
    if raw_output is not None and not output_path.endswith(".ipynb"):
        raise InvalidInput("output_path must end with .ipynb")

    kernel_name = body.get("kernel_name")
    if kernel_name is None:
        kernel_name = config.default_kernel_name
    elif not isinstance(kernel_name, str) or not KERNEL_NAME_RE.fullmatch(kernel_name):
        raise InvalidInput("kernel_name must be a kernel spec name")

    # the service's own checks: names, plain JSON values, nesting and text limits
    parameters = check_parameters([], body.get("parameters"), allow_unknown=True)
    secrets = check_secrets(body.get("secrets"))
    both = sorted(set(secrets) & set(parameters))
    if both:
        raise InvalidInput(f"{both[0]} is given both as a parameter and as a secret")

    overwrite = body.get("overwrite", False)
    if not isinstance(overwrite, bool):
        raise InvalidInput("overwrite must be true or false")

    timeout = body.get("timeout")
    if timeout is None:
        timeout = min(config.default_timeout, config.max_timeout)
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
        raise InvalidInput("timeout must be a number of seconds")
    if not math.isfinite(timeout) or timeout <= 0:
        raise InvalidInput("timeout must be a positive number of seconds")
    if timeout > config.max_timeout:
        raise InvalidInput(f"timeout must be at most {config.max_timeout:g} seconds")

    limits = body.get("limits") or {}
    if not isinstance(limits, dict) or set(limits) - {"memory_bytes", "cpu_seconds"}:
        raise InvalidInput("limits may hold memory_bytes and cpu_seconds")
    for name, value in limits.items():
        if (
            isinstance(value, bool)
            or not isinstance(value, (int, float))
            or not math.isfinite(value)
            or value <= 0
        ):
            raise InvalidInput(f"limits.{name} must be a positive number")

    env = body.get("env")
    if env is None:
        env = {}
    if not isinstance(env, dict):
        raise InvalidInput("env must be an object of strings")
    for name, value in env.items():
        if not isinstance(name, str) or not ENV_NAME_RE.fullmatch(name):
            raise InvalidInput(
                f"env name {name!r} is not allowed "
                "(only MLFLOW_* and JUPYTERHUB_TEMPLATES_* in upper case)"
            )
        if not isinstance(value, str) or "\x00" in value:
            raise InvalidInput(f"env value of {name} must be a string without NUL")
    return Request(
        id=execution_id,
        input_path=input_path,
        output_path=output_path,
        kernel_name=kernel_name,
        parameters=parameters,
        timeout=float(timeout),
        env=dict(env),
        # no output_path: a run in place, which replaces its notebook by definition
        overwrite=overwrite or raw_output is None,
        secrets=secrets,
        limits=dict(limits),
    )


def prepare_paths(root_dir: str, req: Request) -> tuple[str, str, str]:
    """Resolve and check both paths; create the output's folders. Blocking (thread)."""
    os_input = resolve_in_root(root_dir, req.input_path, "input_path")
    os_output = resolve_in_root(root_dir, req.output_path, "output_path")
    if not os_input.endswith(".ipynb") or not os.path.isfile(os_input):
        raise NotFound(f"no notebook at {req.input_path}")
    if os.path.isdir(os_output):
        raise InvalidInput("output_path is a folder")
    if not req.overwrite and os.path.lexists(os_output):
        raise Conflict(f"{req.output_path} exists; set overwrite to replace it")
    parent = os.path.dirname(os_output)
    if not os.path.isdir(parent):
        try:
            os.makedirs(parent, exist_ok=True)
        except OSError as exc:
            raise InvalidInput(f"cannot create the folder of output_path: {exc.strerror}") from None
    return os_input, os_output, os.path.dirname(os_input)
