"""A template store in an S3-compatible object store (MinIO, Ceph, AWS S3, ...).

Every method blocks on the network; callers run them in worker threads. One
:class:`minio.Minio` client (thread-safe, with its own urllib3 connection pool) serves all
threads. The connection policy is deliberately impatient: a stopped server is reported as
:class:`StoreUnavailable` within a second or so, and a server that accepts connections but
never answers within ``(2 retries + 1) * timeout`` seconds, instead of minio's defaults of
five retries and five-minute timeouts.

The access and secret keys never appear in logs, ``repr()``, :meth:`describe` or the
messages of the exceptions raised here.
"""

from __future__ import annotations

import datetime
import io
import os
import threading
from collections.abc import Callable, Iterator
from typing import TypeVar

import certifi
import urllib3
from minio import Minio
from minio.error import InvalidResponseError, MinioException, S3Error, ServerError
from traitlets import Bool, Float, Integer, TraitError, Unicode, default, observe, validate
from urllib3.util import Retry, Timeout

from .base import ObjectNotFound, StoredObject, StoreUnavailable, TemplateStore

T = TypeVar("T")

#: the longest expiry S3 signature v4 (and so the minio client) accepts
MAX_PRESIGN_EXPIRY = datetime.timedelta(days=7)
MIN_PRESIGN_EXPIRY = datetime.timedelta(seconds=1)

NOTEBOOK_CONTENT_TYPE = "application/x-ipynb+json"

_TRUE = {"1", "true", "yes"}

# Short, secret-free explanations of the S3 error codes that mean "the store refuses us".
_S3_ERROR_HINTS = {
    "AccessDenied": "access denied (check the access key, secret key and bucket policy)",
    "InvalidAccessKeyId": "access key not recognised by the S3 server",
    "SignatureDoesNotMatch": "request signature rejected (check the secret key)",
    "InvalidToken": "credentials rejected",
    "ExpiredToken": "credentials expired",
    "AllAccessDisabled": "all access to the bucket is disabled",
    "AccountProblem": "problem with the S3 account",
    "RequestTimeTooSkewed": "clock skew between this host and the S3 server is too large",
    "SlowDown": "S3 server is throttling requests",
    "ServiceUnavailable": "S3 server is unavailable",
    "InternalError": "S3 server internal error",
    "BucketAlreadyExists": "bucket name is taken by another account",
}


def _env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        return default
    return value.strip().lower() in _TRUE


def _describe_network_error(exc: BaseException) -> str:
    """A short, secret-free description of a connection-level failure."""
    reason = exc
    if isinstance(exc, urllib3.exceptions.MaxRetryError) and exc.reason is not None:
        reason = exc.reason
    if isinstance(reason, urllib3.exceptions.ResponseError):
        # urllib3 gave up after retrying on a 5xx status from status_forcelist
        return "server kept answering with an HTTP 5xx error"
    # Order matters: NameResolutionError < NewConnectionError < ConnectTimeoutError.
    if isinstance(reason, urllib3.exceptions.NameResolutionError):
        return "host name does not resolve"
    if isinstance(reason, urllib3.exceptions.NewConnectionError | ConnectionRefusedError):
        return "connection refused or host unreachable"
    if isinstance(reason, urllib3.exceptions.ConnectTimeoutError):
        return "connection timed out"
    if isinstance(reason, urllib3.exceptions.ReadTimeoutError | TimeoutError):
        return "no answer before the timeout"
    if isinstance(reason, urllib3.exceptions.SSLError):
        return "TLS error"
    if isinstance(reason, urllib3.exceptions.ProtocolError | ConnectionError):
        return "connection dropped"
    return type(reason).__name__


class S3TemplateStore(TemplateStore):
    """Keeps each template as an object ``<category>/<name>.ipynb`` in one bucket."""

    kind = "s3"

    endpoint = Unicode(
        help="""Host and port of the S3 server, without scheme, e.g. ``minio:9000``.
        Use ``secure`` to choose between http and https.

        Default: $JUPYTERHUB_TEMPLATES_S3_ENDPOINT, else ``127.0.0.1:9000``.
        """,
    ).tag(config=True)

    @default("endpoint")
    def _default_endpoint(self) -> str:
        return os.environ.get("JUPYTERHUB_TEMPLATES_S3_ENDPOINT", "127.0.0.1:9000")

    access_key = Unicode(
        help="""S3 access key. Empty means anonymous requests (and no presigned URLs).

        Default: $JUPYTERHUB_TEMPLATES_S3_ACCESS_KEY.
        """,
    ).tag(config=True)

    @default("access_key")
    def _default_access_key(self) -> str:
        return os.environ.get("JUPYTERHUB_TEMPLATES_S3_ACCESS_KEY", "")

    secret_key = Unicode(
        help="""S3 secret key. Never logged or shown.

        Default: $JUPYTERHUB_TEMPLATES_S3_SECRET_KEY.
        """,
    ).tag(config=True)

    @default("secret_key")
    def _default_secret_key(self) -> str:
        return os.environ.get("JUPYTERHUB_TEMPLATES_S3_SECRET_KEY", "")

    bucket = Unicode(
        help="""Bucket holding the templates.

        Default: $JUPYTERHUB_TEMPLATES_S3_BUCKET, else ``notebook-templates``.
        """,
    ).tag(config=True)

    @default("bucket")
    def _default_bucket(self) -> str:
        return os.environ.get("JUPYTERHUB_TEMPLATES_S3_BUCKET", "notebook-templates")

    secure = Bool(
        help="""Talk to the S3 server over TLS (https) rather than plain http.
        Certificates are checked against $SSL_CERT_FILE if set, else certifi's bundle.

        Default: True if $JUPYTERHUB_TEMPLATES_S3_SECURE is 1, true or yes, else False.
        """,
    ).tag(config=True)

    @default("secure")
    def _default_secure(self) -> bool:
        return _env_bool("JUPYTERHUB_TEMPLATES_S3_SECURE", False)

    region = Unicode(
        help="""Region of the bucket. Always given to the client so that it never asks the
        server for the bucket's location (which would make presigning a network call).

        Default: $JUPYTERHUB_TEMPLATES_S3_REGION, else ``us-east-1``.
        """,
    ).tag(config=True)

    @default("region")
    def _default_region(self) -> str:
        return os.environ.get("JUPYTERHUB_TEMPLATES_S3_REGION", "") or "us-east-1"

    public_endpoint = Unicode(
        help="""Host and port that browsers and kernels use to reach the S3 server, when it
        differs from ``endpoint`` (e.g. ``endpoint`` is an in-cluster name and clients go
        through an ingress). Used only to sign presigned URLs: a signature covers the host
        name, so the URL must be signed for the address the client will use.

        May carry a scheme (``https://s3.example.org``) when the public side uses another
        protocol than ``endpoint``; without one, ``secure`` decides. Empty: same as
        ``endpoint``. Default: $JUPYTERHUB_TEMPLATES_S3_PUBLIC_ENDPOINT.
        """,
    ).tag(config=True)

    @default("public_endpoint")
    def _default_public_endpoint(self) -> str:
        return os.environ.get("JUPYTERHUB_TEMPLATES_S3_PUBLIC_ENDPOINT", "")

    create_bucket = Bool(
        True,
        help="""Create the bucket if it does not exist, once, on first use. If False, a
        missing bucket makes the store unavailable.""",
    ).tag(config=True)

    timeout = Float(
        10.0,
        help="""Seconds allowed to connect to the S3 server, and again to wait for each read.
        With the retries, a server that accepts connections but does not answer is given up
        after about three times this.""",
    ).tag(config=True)

    max_pool_connections = Integer(
        16,
        help="""Connections kept open to the S3 server. Should be at least the number of
        worker threads that call the store at once.""",
    ).tag(config=True)

    @validate("endpoint")
    def _validate_endpoint(self, proposal):
        value = proposal["value"].strip()
        if "://" in value:
            raise TraitError(
                "S3TemplateStore.endpoint is host:port without scheme "
                "(set S3TemplateStore.secure for https)"
            )
        if not value or "/" in value:
            raise TraitError("S3TemplateStore.endpoint must be host:port")
        return value

    @validate("public_endpoint")
    def _validate_public_endpoint(self, proposal):
        value = proposal["value"].strip().rstrip("/")
        host = value.split("://", 1)[1] if "://" in value else value
        if value and (not host or "/" in host):
            raise TraitError("S3TemplateStore.public_endpoint must be [scheme://]host:port")
        if "://" in value and value.split("://", 1)[0].lower() not in ("http", "https"):
            raise TraitError("S3TemplateStore.public_endpoint scheme must be http or https")
        return value

    def __init__(self, **kwargs):
        self._client_lock = threading.Lock()
        self._bucket_lock = threading.Lock()
        self._clients: tuple[Minio, Minio] | None = None
        self._bucket_ready = False
        super().__init__(**kwargs)

    @observe(
        "endpoint",
        "access_key",
        "secret_key",
        "secure",
        "region",
        "public_endpoint",
        "timeout",
        "max_pool_connections",
        "bucket",
    )
    def _reset_clients(self, change) -> None:
        # A changed setting takes effect on the next call.
        with self._client_lock:
            self._clients = None
        self._bucket_ready = False

    # --- clients ---------------------------------------------------------------------

    def _make_http(self) -> urllib3.PoolManager:
        return urllib3.PoolManager(
            timeout=Timeout(connect=self.timeout, read=self.timeout),
            maxsize=self.max_pool_connections,
            cert_reqs="CERT_REQUIRED",
            ca_certs=os.environ.get("SSL_CERT_FILE") or certifi.where(),
            retries=Retry(total=2, backoff_factor=0.2, status_forcelist=[500, 502, 503, 504]),
        )

    def _make_minio(self, endpoint: str, secure: bool, http: urllib3.PoolManager) -> Minio:
        return Minio(
            endpoint,
            access_key=self.access_key or None,
            secret_key=self.secret_key if self.access_key else None,
            secure=secure,
            region=self.region,
            http_client=http,
        )

    def _get_clients(self) -> tuple[Minio, Minio]:
        """The client for requests, and the client for signing URLs (often the same)."""
        clients = self._clients
        if clients is not None:
            return clients
        with self._client_lock:
            if self._clients is None:
                http = self._make_http()
                client = self._make_minio(self.endpoint, self.secure, http)
                signer = client
                if self.public_endpoint:
                    public, secure = self.public_endpoint, self.secure
                    if "://" in public:
                        scheme, public = public.split("://", 1)
                        secure = scheme.lower() == "https"
                    # Presigning is local computation (the region is fixed), so this client
                    # never opens a connection; it shares the pool all the same.
                    signer = self._make_minio(public, secure, http)
                self._clients = (client, signer)
            return self._clients

    @property
    def _client(self) -> Minio:
        return self._get_clients()[0]

    # --- error handling --------------------------------------------------------------

    def _unavailable(self, exc: BaseException, action: str) -> StoreUnavailable:
        """Turn any failure other than a missing object into a secret-free StoreUnavailable."""
        if isinstance(exc, S3Error):
            if exc.code == "NoSuchBucket":
                what = "bucket does not exist"
            else:
                hint = _S3_ERROR_HINTS.get(exc.code or "", "request refused")
                what = f"{hint} [{exc.code}]"
        elif isinstance(exc, ServerError):
            what = f"server error (HTTP {exc.status_code})"
        elif isinstance(exc, InvalidResponseError):
            what = "unexpected non-S3 answer (is the endpoint an S3 server?)"
        elif isinstance(exc, urllib3.exceptions.HTTPError | OSError):
            what = _describe_network_error(exc)
        else:
            what = type(exc).__name__
        return StoreUnavailable(f"S3 store {self._where()}: cannot {action}: {what}")

    def _call(self, action: str, fn: Callable[[Minio], T]) -> T:
        """Run ``fn(client)`` once the bucket exists; map failures to StoreUnavailable.

        S3Error NoSuchKey is left for the caller. If the bucket vanished (e.g. a test
        server restarted) and ``create_bucket`` is set, it is created again and ``fn``
        retried once.
        """
        client = self._client
        for attempt in (1, 2):
            try:
                self._ensure_bucket(client)
                return fn(client)
            except S3Error as e:
                if e.code == "NoSuchKey":
                    raise
                if e.code == "NoSuchBucket":
                    self._bucket_ready = False
                    if self.create_bucket and attempt == 1:
                        continue
                raise self._unavailable(e, action) from e
            except (MinioException, urllib3.exceptions.HTTPError, OSError) as e:
                raise self._unavailable(e, action) from e
        raise AssertionError("unreachable")  # pragma: no cover

    def _ensure_bucket(self, client: Minio) -> None:
        """Check once that the bucket exists; create it if allowed. Thread-safe."""
        if self._bucket_ready:
            return
        with self._bucket_lock:
            if self._bucket_ready:
                return
            if not client.bucket_exists(self.bucket):
                if not self.create_bucket:
                    raise StoreUnavailable(
                        f"S3 store {self._where()}: bucket does not exist "
                        "(and create_bucket is False)"
                    )
                try:
                    client.make_bucket(self.bucket)
                except S3Error as e:
                    # another process created it between our check and our request
                    if e.code != "BucketAlreadyOwnedByYou":
                        raise
                else:
                    self.log.info("Created S3 bucket %s at %s", self.bucket, self._url())
            self._bucket_ready = True

    # --- TemplateStore ---------------------------------------------------------------

    def put(self, key: str, data: bytes) -> None:
        data = bytes(data)

        def put(client: Minio) -> None:
            client.put_object(
                self.bucket,
                key,
                io.BytesIO(data),
                length=len(data),
                content_type=NOTEBOOK_CONTENT_TYPE,
            )

        self._call(f"write {key}", put)

    def get(self, key: str) -> bytes:
        def get(client: Minio) -> bytes:
            response = client.get_object(self.bucket, key)
            try:
                return response.read()
            finally:
                response.close()
                response.release_conn()

        try:
            return self._call(f"read {key}", get)
        except S3Error as e:  # only NoSuchKey gets through _call
            raise ObjectNotFound(key) from e

    def delete(self, key: str) -> None:
        try:
            self._call(f"delete {key}", lambda client: client.remove_object(self.bucket, key))
        except S3Error:  # NoSuchKey: S3 itself does not report it, but some servers might
            return

    def list(self, prefix: str = "") -> Iterator[StoredObject]:
        """Every object under ``prefix``. The listing is fetched in full before returning, so
        network errors are raised here, in the caller's worker thread, not while iterating.
        """

        def list_all(client: Minio) -> list[StoredObject]:
            objects = []
            for obj in client.list_objects(self.bucket, prefix=prefix or None, recursive=True):
                if obj.is_dir or obj.object_name is None:
                    continue
                modified = obj.last_modified or datetime.datetime.now(datetime.timezone.utc)
                if modified.tzinfo is None:
                    modified = modified.replace(tzinfo=datetime.timezone.utc)
                objects.append(
                    StoredObject(key=obj.object_name, size=obj.size or 0, last_modified=modified)
                )
            return objects

        return iter(self._call(f"list {prefix or 'objects'}", list_all))

    def exists(self, key: str) -> bool:
        try:
            self._call(f"look up {key}", lambda client: client.stat_object(self.bucket, key))
        except S3Error:  # NoSuchKey
            return False
        return True

    def check(self) -> None:
        """Ask the server whether the bucket exists (a HEAD request); create it if missing
        and allowed. Unlike the other methods this always goes to the network."""
        self._bucket_ready = False
        try:
            self._call("reach the bucket", lambda client: None)
        except S3Error as e:  # HEAD errors carry no body; a 404 may come back as NoSuchKey
            raise self._unavailable(e, "reach the bucket") from e

    def presigned_url(self, key: str, expires: datetime.timedelta) -> str | None:
        """A GET URL for ``key`` signed for ``public_endpoint`` (or ``endpoint``).

        ``expires`` is clamped to between 1 second and 7 days, the limits of S3 signature
        v4 (AWS and the minio client refuse longer). Signing is local: no request is made,
        so the object's existence is not checked. Without an access key nothing can be
        signed and None is returned.
        """
        if not self.access_key:
            return None
        expires = max(MIN_PRESIGN_EXPIRY, min(expires, MAX_PRESIGN_EXPIRY))
        signer = self._get_clients()[1]
        try:
            return signer.presigned_get_object(self.bucket, key, expires=expires)
        except (MinioException, urllib3.exceptions.HTTPError, OSError) as e:
            raise self._unavailable(e, f"sign a URL for {key}") from e

    # --- description -----------------------------------------------------------------

    def _url(self) -> str:
        return f"{'https' if self.secure else 'http'}://{self.endpoint}"

    def _where(self) -> str:
        return f"{self._url()}/{self.bucket}"

    def describe(self) -> str:
        return f"s3 {self._where()}"

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self._where()}>"
