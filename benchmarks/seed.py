"""Seeding the catalog at scale without going through the upload API.

Uploading 10,000 templates through the service takes far too long for a benchmark's
setup, so rows go straight into the service's (already migrated) database with SQLAlchemy
bulk inserts, and the objects into the bucket with parallel ``minio`` puts:

- database: one ``templates`` row and one ``template_versions`` row per template, with
  the facts an upload would have written (size, sha256, kernel, two parameters);
- bucket: the object ``<category>/<file>.ipynb`` per template (the original service's key, what
  the baseline lists), for as many templates as the baseline is measured at; and the
  immutable ``.versions/<name>/1.ipynb`` object only for the first ``READABLE``
  templates, the ones the load test reads with ``content=true`` (the rest of the
  service's routes never touch the bucket).

Names are ``<category>/<word>_<number>.ipynb`` and descriptions repeat the word, so a
text search for a word finds the same templates by name (the baseline, which only sees
keys) and by name or description (the service).
"""

from __future__ import annotations

import datetime
import hashlib
import io
import json
from concurrent.futures import ThreadPoolExecutor

from minio import Minio
from sqlalchemy import create_engine, insert, text

from jupyterhub_templates.db.models import Template, TemplateVersion

CATEGORIES = [
    "analysis",
    "etl",
    "ml",
    "reports",
    "forecasting",
    "nlp",
    "vision",
    "finance",
    "ops",
    "geo",
]
WORDS = [
    "churn",
    "sales",
    "clustering",
    "regression",
    "anomaly",
    "dashboard",
    "ingest",
    "cleanup",
    "sentiment",
    "segmentation",
    "pricing",
    "inventory",
    "retention",
    "uplift",
    "survival",
    "topics",
    "embedding",
    "detector",
    "quality",
    "backfill",
]
SEARCH_WORD = "churn"
#: templates whose version object is in the bucket (read with content by the load test)
READABLE = 100

NOTEBOOK = json.dumps(
    {
        "cells": [
            {
                "cell_type": "code",
                "execution_count": None,
                "id": "params",
                "metadata": {"tags": ["parameters"]},
                "outputs": [],
                "source": "alpha = 0.5\nrows = 1000\n",
            },
            {
                "cell_type": "code",
                "execution_count": None,
                "id": "work",
                "metadata": {"tags": []},
                "outputs": [],
                "source": "print(alpha * rows)\n",
            },
        ],
        "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3"}},
        "nbformat": 4,
        "nbformat_minor": 5,
    },
    indent=1,
).encode()
SHA = hashlib.sha256(NOTEBOOK).hexdigest()
PARAMETERS = [
    {"name": "alpha", "inferred_type_name": "float", "default": "0.5", "help": ""},
    {"name": "rows", "inferred_type_name": "int", "default": "1000", "help": ""},
]


def template_name(i: int) -> str:
    """The i-th template (0-based): 10 categories, 20 words, all names distinct."""
    return f"{CATEGORIES[i % len(CATEGORIES)]}/{WORDS[(i // 10) % len(WORDS)]}_{i:06d}.ipynb"


def version_key(name: str) -> str:
    return f".versions/{name}/1.ipynb"


def seed_database(db_url: str, start: int, stop: int, batch: int = 5000) -> None:
    """Insert templates ``start`` .. ``stop - 1`` (ids ``i + 1``) and their version 1."""
    engine = create_engine(db_url)
    now = datetime.datetime.now(datetime.timezone.utc)
    try:
        with engine.begin() as conn:
            for lo in range(start, stop, batch):
                hi = min(lo + batch, stop)
                templates, versions = [], []
                for i in range(lo, hi):
                    name = template_name(i)
                    category, filename = name.split("/", 1)
                    word = filename.split("_", 1)[0]
                    description = f"{word.title()} notebook {i} for the {category} team"
                    common = {
                        "size": len(NOTEBOOK),
                        "sha256": SHA,
                        "kernel_name": "python3",
                        "parameters": PARAMETERS,
                        "description": description,
                        "uploader": "bench",
                        "created_at": now,
                    }
                    templates.append(
                        {
                            "id": i + 1,
                            "name": name,
                            "category": category,
                            "filename": filename,
                            "current_version": 1,
                            "updated_at": now,
                            **common,
                        }
                    )
                    versions.append(
                        {
                            "id": i + 1,
                            "template_id": i + 1,
                            "version": 1,
                            "object_key": version_key(name),
                            **common,
                        }
                    )
                conn.execute(insert(Template.__table__), templates)
                conn.execute(insert(TemplateVersion.__table__), versions)
            # keep the id sequences ahead of the explicit ids (PostgreSQL)
            if engine.dialect.name == "postgresql":
                for table in ("templates", "template_versions"):
                    conn.execute(
                        text(
                            f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "  # noqa: S608 (constant names)
                            f"(SELECT max(id) FROM {table}))"
                        )
                    )
        # What autovacuum does to a table after this many inserts: planner statistics,
        # and the visibility map that lets counts use index-only scans.
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            verb = "VACUUM ANALYZE" if engine.dialect.name == "postgresql" else "ANALYZE"
            conn.execute(text(f"{verb} templates"))
            conn.execute(text(f"{verb} template_versions"))
    finally:
        engine.dispose()


def seed_bucket(client: Minio, bucket: str, keys: list[str], workers: int = 16) -> None:
    """Put the notebook under every key, in parallel."""

    def put(key: str) -> None:
        client.put_object(bucket, key, io.BytesIO(NOTEBOOK), len(NOTEBOOK))

    with ThreadPoolExecutor(workers) as pool:
        for _ in pool.map(put, keys):
            pass
