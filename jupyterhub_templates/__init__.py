"""Notebook templates for JupyterHub: a Hub service, a server extension and a JupyterLab gallery."""

from ._version import __version__

__all__ = ["__version__"]


def _jupyter_labextension_paths():
    # The Lab extension is built into the top-level labextension/ folder (package.json's
    # jupyterlab.outputDir), next to this package; wheels ship it as shared data instead.
    return [{"src": "../labextension", "dest": "jupyterhub-templates"}]
