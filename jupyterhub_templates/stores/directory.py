"""A template store in a local directory (the default; good for one-host deployments)."""

from __future__ import annotations

import datetime
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from traitlets import Unicode, default

from .base import ObjectNotFound, StoredObject, StoreUnavailable, TemplateStore


class DirectoryTemplateStore(TemplateStore):
    """Keeps each template as a file ``<root>/<category>/<name>.ipynb``."""

    kind = "directory"

    root = Unicode(
        help="""Directory holding the templates. Created if missing.

        Default: $JUPYTERHUB_TEMPLATES_STORE_DIR, else ./templates-store.
        """,
    ).tag(config=True)

    @default("root")
    def _default_root(self) -> str:
        return os.environ.get("JUPYTERHUB_TEMPLATES_STORE_DIR", "templates-store")

    @property
    def _root(self) -> Path:
        return Path(self.root).resolve()

    def _path(self, key: str) -> Path:
        path = (self._root / key).resolve()
        # The catalog validates keys; this is a second fence, not the first.
        if self._root not in path.parents:
            raise ValueError(f"key outside the store: {key!r}")
        return path

    def put(self, key: str, data: bytes) -> None:
        path = self._path(key)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".upload-", suffix=".tmp")
            try:
                with os.fdopen(fd, "wb") as f:
                    f.write(data)
                    f.flush()
                    os.fsync(f.fileno())
                os.replace(tmp, path)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
        except OSError as e:
            raise StoreUnavailable(f"cannot write {key}: {e.strerror or e}") from e

    def get(self, key: str) -> bytes:
        path = self._path(key)
        try:
            return path.read_bytes()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError) as e:
            raise ObjectNotFound(key) from e
        except OSError as e:
            raise StoreUnavailable(f"cannot read {key}: {e.strerror or e}") from e

    def delete(self, key: str) -> None:
        path = self._path(key)
        try:
            path.unlink(missing_ok=True)
        except IsADirectoryError:
            return
        except OSError as e:
            raise StoreUnavailable(f"cannot delete {key}: {e.strerror or e}") from e
        # Drop folders left empty, up to the root.
        parent = path.parent
        while parent != self._root:
            try:
                parent.rmdir()
            except OSError:
                break
            parent = parent.parent

    def list(self, prefix: str = "") -> Iterator[StoredObject]:
        root = self._root
        if not root.is_dir():
            self.check()
            return
        for dirpath, _dirnames, filenames in os.walk(root):
            for filename in filenames:
                if filename.startswith(".upload-"):
                    continue
                path = Path(dirpath, filename)
                key = path.relative_to(root).as_posix()
                if not key.startswith(prefix):
                    continue
                try:
                    st = path.stat()
                except FileNotFoundError:
                    continue
                yield StoredObject(
                    key=key,
                    size=st.st_size,
                    last_modified=datetime.datetime.fromtimestamp(
                        st.st_mtime, datetime.timezone.utc
                    ),
                )

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def check(self) -> None:
        root = self._root
        try:
            root.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise StoreUnavailable(f"store directory unusable: {e.strerror or e}") from e
        if not os.access(root, os.R_OK | os.W_OK | os.X_OK):
            raise StoreUnavailable("store directory is not readable and writable")

    def describe(self) -> str:
        return f"directory {self._root}"
