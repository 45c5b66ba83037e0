"""The Hub service: a Tornado app that JupyterHub runs at /services/templates/."""
