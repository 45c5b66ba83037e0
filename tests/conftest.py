"""Shared fixtures: S3 (moto), PostgreSQL, JupyterHub. See tests/fixtures/."""

pytest_plugins = ["fixtures.s3", "fixtures.postgres", "fixtures.hub", "fixtures.mlflow"]
