"""Pack the templates dashboard (assets/) into the ZIP bundle `superset import-dashboards`
reads, with the database connection taken from the environment.

    python bundle.py OUT.zip

The connection's address comes from the environment: assets/ says
`${TEMPLATES_ANALYTICS_DB_URI}` and this script puts in the value of that variable. It
must carry no password; superset_config.py adds the password when Superset connects.
Standard library only, so that it runs in Superset's image as it is.
"""

from __future__ import annotations

import os
import string
import sys
import urllib.parse
import zipfile
from pathlib import Path

ASSETS = Path(__file__).resolve().parent / "assets"
#: the folder Superset expects at the top of a bundle
ROOT = "jupyterhub_templates_dashboard"


def render(text: str, environ: dict[str, str]) -> str:
    """`text` with each ${NAME} replaced by that variable; an unset one is an error."""
    try:
        return string.Template(text).substitute(environ)
    except KeyError as missing:
        raise SystemExit(f"bundle.py: the environment variable {missing} is not set") from None


def build(out: Path, environ: dict[str, str]) -> list[str]:
    """Write the bundle to `out` and answer the names inside it."""
    address = environ.get("TEMPLATES_ANALYTICS_DB_URI", "")
    if urllib.parse.urlsplit(address).password:
        raise SystemExit(
            "bundle.py: TEMPLATES_ANALYTICS_DB_URI holds a password; give it in"
            " ANALYTICS_DB_PASSWORD instead, so that Superset never stores it"
        )
    names = []
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as bundle:
        for path in sorted(ASSETS.rglob("*.yaml")):
            name = f"{ROOT}/{path.relative_to(ASSETS).as_posix()}"
            bundle.writestr(name, render(path.read_text(encoding="utf-8"), environ))
            names.append(name)
    return names


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit("usage: python bundle.py OUT.zip")
    build(Path(sys.argv[1]), dict(os.environ))
