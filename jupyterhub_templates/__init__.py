"""Notebook templates for JupyterHub: a Hub service, a server extension and a JupyterLab gallery."""

from ._version import __version__

__all__ = ["__version__"]


def _jupyter_labextension_paths():
    # The Lab extension is built into the top-level labextension/ folder (package.json's
    # jupyterlab.outputDir), next to this package; wheels ship it as shared data instead.
    return [{"src": "../labextension", "dest": "jupyterhub-templates"}]


def _jupyter_server_extension_points():
    # Imported only when jupyter_server loads extensions: importing this package must
    # stay light (no jupyter_server, no service).
    from .server.app import TemplatesExtensionApp

    return [{"module": "jupyterhub_templates.server.app", "app": TemplatesExtensionApp}]
