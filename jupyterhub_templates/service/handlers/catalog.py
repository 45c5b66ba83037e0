"""Routes of the template catalog (the original API's "MinIO template management",
docs/api-compatibility.md)."""

from __future__ import annotations

import datetime
import time
from urllib.parse import quote, urlencode

from tornado import httputil, web

from ...errors import InvalidInput, NotFound, TooLarge
from ...metrics import Action
from ...stores.base import MISSING_CONTENT, store_errors
from ..signing import sign_download, verify_download
from .base import BaseHandler

#: room for the multipart envelope and the text fields around the notebook
MULTIPART_SLACK = 256 * 1024


class UploadTemplateHandler(BaseHandler):
    """``POST /minio/upload-template``: multipart ``file``, ``category``, ``description``,
    ``overwrite``. Admins only.

    The body streams in (see :class:`BaseHandler`) up to the template limit plus room
    for the multipart envelope; a refusal known from the headers (not an admin, a
    Content-Length over the limit) is decided before the body arrives and answered once
    it has been read and dropped.
    """

    actions = {"POST": Action.UPLOAD}

    def body_limit(self) -> int:
        return self.catalog.max_upload_bytes + MULTIPART_SLACK

    def too_large(self) -> TooLarge:
        return TooLarge(
            f"The upload is over the {self.catalog.max_upload_bytes}-byte template limit."
        )

    async def authenticate(self) -> None:
        await super().authenticate()
        await self.require_admin("upload templates")

    async def post(self) -> None:
        body = self.body
        self._chunks = []
        content_type = self.request.headers.get("Content-Type", "")
        if not content_type.startswith("multipart/form-data"):
            raise InvalidInput("Send the template as multipart/form-data with a 'file' field.")
        fields: dict[str, list[bytes]] = {}
        files: dict[str, list[httputil.HTTPFile]] = {}
        try:
            # a 10 MB body takes milliseconds to split: not on the event loop
            await self.in_bulk_lane(
                httputil.parse_body_arguments,
                content_type,
                body,
                fields,
                files,
                self.request.headers,
            )
        except httputil.HTTPInputError as e:
            # tornado raises on malformed multipart (bad part headers, no boundary)
            raise InvalidInput("The upload is not valid multipart/form-data.") from e
        uploads = files.get("file") or []
        if len(uploads) != 1:
            raise InvalidInput("Send exactly one notebook in the 'file' field.")
        upload = uploads[0]

        def field(name: str, default: str = "") -> str:
            values = fields.get(name)
            if not values:
                return default
            try:
                return values[-1].decode("utf-8")
            except UnicodeDecodeError:
                raise InvalidInput(f"The field {name} is not UTF-8 text.") from None

        category = field("category")
        if not category:
            raise InvalidInput("The field 'category' is required, e.g. 'ml'.")
        filename = field("filename") or upload.filename
        overwrite = self.bool_argument("overwrite", value=field("overwrite") or None)
        # parsing and validating a large notebook is long work in Python
        result = await (self.in_bulk_lane if self.large_request else self.in_thread)(
            self.catalog.upload,
            filename=filename,
            category=category,
            data=upload.body,
            description=field("description"),
            overwrite=overwrite,
            uploader=self.username,
        )
        self.audit_target = f"{result['name']}@{result['version']}"
        await self.write_json_off_loop(
            {
                "status": "success",
                "message": f"Template {result['name']} stored as version {result['version']}.",
                "template_name": result["name"],
                "version": result["version"],
                "template": result,
            },
            status=201 if result["version"] == 1 else 200,
        )


class ListTemplatesHandler(BaseHandler):
    """``GET /minio/list-templates``: ``category``, ``q``, ``limit``, ``offset``, ``sort``,
    ``order``."""

    async def get(self) -> None:
        body = await self.in_thread(
            self.catalog.list_json,
            category=self.get_argument("category", None) or None,
            q=self.get_argument("q", None) or None,
            limit=self.int_argument("limit", 100),
            offset=self.int_argument("offset", 0),
            sort=self.get_argument("sort", "name"),
            order=self.get_argument("order", "asc"),
        )
        await self.send(body)  # JSON text written by the catalog (on PostgreSQL, by the database)


class ListCategoriesHandler(BaseHandler):
    """``GET /minio/list-categories``: every category with its template count."""

    async def get(self) -> None:
        categories = await self.in_thread(self.catalog.categories)
        self.write_json({"status": "success", "categories": categories})


class GetTemplateHandler(BaseHandler):
    """``GET /minio/get-template/{name}``: metadata, versions; ``?content=true`` adds the
    notebook; ``?version=N`` picks a version."""

    async def get(self, name: str) -> None:
        content = self.bool_argument("content")
        answer = await (self.in_bulk_lane if content else self.in_thread)(
            self.catalog.get_json,
            name,
            version=self.int_argument("version", None, minimum=1),
            content=content,
        )
        await self.send(answer)  # JSON bytes, the notebook spliced in as stored


class DeleteTemplateHandler(BaseHandler):
    """``DELETE /minio/delete-template/{name}``: the template and all its versions."""

    actions = {"DELETE": Action.DELETE}

    async def delete(self, name: str) -> None:
        await self.require_admin("delete templates")
        result = await self.in_thread(self.catalog.delete, name)
        self.write_json({"status": "success", "message": f"Template {name} deleted.", **result})


class DownloadUrlHandler(BaseHandler):
    """``GET /minio/download-url/{name}``: a time-limited URL to GET the notebook.

    S3 stores give a presigned URL; the directory store gives a URL to
    ``/minio/download/{name}`` signed with the service's HMAC key.
    """

    async def get(self, name: str) -> None:
        expires_in = self.int_argument("expires", self.service.download_url_expiry, minimum=1)
        expires_in = min(expires_in, self.service.max_download_url_expiry)
        version = await self.in_thread(
            self.catalog.version_for_download,
            name,
            self.int_argument("version", None, minimum=1),
        )
        # A URL to an object that is not there is no use: look it up first (a HEAD on
        # S3), which also answers 503 when the store is down rather than a dead URL.
        await self.in_thread(self._check_stored, version.object_key)
        url = await self.in_thread(
            self.catalog.store.presigned_url,
            version.object_key,
            datetime.timedelta(seconds=expires_in),
        )
        expires_at = int(time.time()) + expires_in
        if url is None:
            signature = sign_download(
                self.settings["download_secret"], name, version.version, expires_at
            )
            query = urlencode(
                {"version": version.version, "expires": expires_at, "signature": signature}
            )
            url = (
                f"{self.request.protocol}://{self.request.host}"
                f"{self.settings['base_url']}minio/download/{quote(name)}?{query}"
            )
        self.write_json(
            {
                "status": "success",
                "template_name": name,
                "version": version.version,
                "url": url,
                "expires_in": expires_in,
                "expires_at": datetime.datetime.fromtimestamp(expires_at, datetime.timezone.utc)
                .isoformat()
                .replace("+00:00", "Z"),
            }
        )

    def _check_stored(self, key: str) -> None:
        """Blocking: NotFound unless the store holds ``key``; Unavailable when the store
        cannot say."""
        with store_errors():
            stored = self.catalog.store.exists(key)
        if not stored:
            raise NotFound(MISSING_CONTENT)


class DownloadHandler(BaseHandler):
    """``GET /minio/download/{name}?version&expires&signature``: the notebook bytes for
    whoever holds a valid, unexpired signed URL (no other authentication)."""

    auth_required = False

    async def authenticate(self) -> None:
        # The signature is the credential; do not consult the Hub.
        self._hub_auth_user_cache = None

    async def get(self, name: str) -> None:
        version = self.int_argument("version", None, minimum=1)
        expires = self.int_argument("expires", None)
        signature = self.get_argument("signature", "")
        if version is None or expires is None or not signature:
            raise web.HTTPError(403, "This download URL is incomplete.")
        if not verify_download(self.settings["download_secret"], name, version, expires, signature):
            raise web.HTTPError(403, "This download URL is invalid.")
        if expires < time.time():
            raise web.HTTPError(403, "This download URL has expired.")
        record, data = await self.in_thread(self.catalog.load_version, name, version)
        filename = name.rsplit("/", 1)[-1]
        self.set_header("Content-Type", "application/x-ipynb+json")
        self.set_header("Content-Disposition", f"attachment; filename*=UTF-8''{quote(filename)}")
        self.set_header("ETag", f'"{record.sha256}"')
        await self.send(data)


def routes() -> list[tuple[str, type[BaseHandler]]]:
    """(path regex relative to the service prefix, handler) for the catalog."""
    return [
        (r"minio/upload-template", UploadTemplateHandler),
        (r"minio/list-templates", ListTemplatesHandler),
        (r"minio/list-categories", ListCategoriesHandler),
        (r"minio/get-template/(.+)", GetTemplateHandler),
        (r"minio/delete-template/(.+)", DeleteTemplateHandler),
        (r"minio/download-url/(.+)", DownloadUrlHandler),
        (r"minio/download/(.+)", DownloadHandler),
    ]
