"""Template stores: where template notebooks live (a directory or S3/MinIO)."""
