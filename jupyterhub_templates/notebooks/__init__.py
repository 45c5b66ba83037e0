"""Notebooks in users' servers: paths, creation from templates, and their records."""
