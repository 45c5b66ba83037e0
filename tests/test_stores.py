"""The TemplateStore contract, run against every store, and the S3 store's own behaviour.

The S3 store is tested against a real moto S3 server over HTTP (see fixtures/s3.py), not
against mocks. Moto differs from a real S3 in ways these tests spell out where they matter:
it checks neither credentials nor signatures nor the expiry of presigned URLs, and it loses
all state when restarted.
"""

from __future__ import annotations

import datetime
import io
import logging
import socket
import threading
import time
import traceback
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from fixtures.s3 import make_s3_store
from minio import Minio
from minio.error import S3Error
from traitlets import TraitError

from jupyterhub_templates.stores.base import ObjectNotFound, StoredObject, StoreUnavailable
from jupyterhub_templates.stores.s3 import S3TemplateStore

NB = b'{"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}\n'

#: generous upper bound for "fails fast"; only there so that a hang fails the test
HANG_GUARD = 15.0


def keys(objects) -> set[str]:
    return {o.key for o in objects}


# --- the contract, for every store ---------------------------------------------------


def test_put_get_round_trip(store):
    store.put("ml/a.ipynb", NB)
    assert store.get("ml/a.ipynb") == NB


def test_round_trip_binary_and_unusual_key(store):
    data = bytes(range(256)) * 10
    key = "data science/ünïcödé + name.ipynb"
    store.put(key, data)
    assert store.get(key) == data
    assert keys(store.list()) == {key}
    assert store.exists(key)


def test_large_object(store):
    # over 5 MiB: the minio client uploads it in several parts
    data = bytes(range(256)) * (24 * 1024 + 3)
    store.put("big/large.ipynb", data)
    assert store.get("big/large.ipynb") == data
    assert [(o.key, o.size) for o in store.list("big/")] == [("big/large.ipynb", len(data))]


def test_empty_object(store):
    store.put("ml/empty.ipynb", b"")
    assert store.get("ml/empty.ipynb") == b""
    assert [o.size for o in store.list()] == [0]


def test_overwrite_replaces(store):
    store.put("ml/a.ipynb", b"first version, longer than the second")
    store.put("ml/a.ipynb", b"second")
    assert store.get("ml/a.ipynb") == b"second"
    assert [(o.key, o.size) for o in store.list()] == [("ml/a.ipynb", 6)]


def test_get_missing_raises_object_not_found(store):
    with pytest.raises(ObjectNotFound):
        store.get("ml/missing.ipynb")
    store.put("ml/a.ipynb", NB)
    with pytest.raises(ObjectNotFound):
        store.get("ml/missing.ipynb")
    # ObjectNotFound is also a KeyError, so callers may treat the store like a mapping
    with pytest.raises(KeyError):
        store.get("other/missing.ipynb")


def test_delete(store):
    store.put("ml/a.ipynb", NB)
    store.put("ml/b.ipynb", NB)
    store.delete("ml/a.ipynb")
    assert not store.exists("ml/a.ipynb")
    with pytest.raises(ObjectNotFound):
        store.get("ml/a.ipynb")
    assert keys(store.list()) == {"ml/b.ipynb"}


def test_delete_missing_is_ok(store):
    store.delete("ml/never-there.ipynb")
    store.put("ml/a.ipynb", NB)
    store.delete("ml/a.ipynb")
    store.delete("ml/a.ipynb")
    assert list(store.list()) == []


def test_list(store):
    contents = {
        "ml/a.ipynb": b"a",
        "ml/b.ipynb": b"bb",
        "ml2/c.ipynb": b"ccc",
        "finance/d.ipynb": b"dddd",
        ".versions/ml/a.ipynb/1.ipynb": b"a1",
        ".versions/ml/a.ipynb/2.ipynb": b"a22",
    }
    before = datetime.datetime.now(datetime.timezone.utc)
    for key, data in contents.items():
        store.put(key, data)

    listed = list(store.list())
    assert all(isinstance(o, StoredObject) for o in listed)
    assert {o.key: o.size for o in listed} == {k: len(v) for k, v in contents.items()}
    for o in listed:
        assert o.last_modified.tzinfo is not None
        assert o.last_modified.utcoffset() == datetime.timedelta(0)
        # S3 stores seconds only, hence the slack
        assert before - datetime.timedelta(seconds=5) <= o.last_modified
        assert o.last_modified <= datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(
            seconds=5
        )

    assert keys(store.list("")) == set(contents)
    # a prefix is a string prefix, not a folder: "ml" matches ml2/ too
    assert keys(store.list("ml/")) == {"ml/a.ipynb", "ml/b.ipynb"}
    assert keys(store.list("ml")) == {"ml/a.ipynb", "ml/b.ipynb", "ml2/c.ipynb"}
    # recursive: objects several levels below the prefix are listed
    assert keys(store.list(".versions/")) == {
        ".versions/ml/a.ipynb/1.ipynb",
        ".versions/ml/a.ipynb/2.ipynb",
    }
    assert keys(store.list(".versions/ml/a.ipynb/")) == {
        ".versions/ml/a.ipynb/1.ipynb",
        ".versions/ml/a.ipynb/2.ipynb",
    }
    assert keys(store.list("ml/a")) == {"ml/a.ipynb"}
    assert list(store.list("nothing/")) == []


def test_list_empty_store(store):
    assert list(store.list()) == []
    assert list(store.list("ml/")) == []


def test_exists(store):
    assert not store.exists("ml/a.ipynb")
    store.put("ml/a.ipynb", NB)
    assert store.exists("ml/a.ipynb")
    assert not store.exists("ml/b.ipynb")
    # a "folder" is not an object
    assert not store.exists("ml")


def test_check_passes(store):
    store.check()
    store.put("ml/a.ipynb", NB)
    store.check()


def test_describe_names_the_kind(store):
    assert store.describe().startswith(store.kind + " ")


def test_presigned_url(store):
    store.put("ml/a.ipynb", NB)
    url = store.presigned_url("ml/a.ipynb", datetime.timedelta(minutes=5))
    if store.kind == "directory":
        assert url is None  # the service signs its own URLs for this store
        return
    assert url is not None
    response = requests.get(url, timeout=10)
    assert response.status_code == 200
    assert response.content == NB


def test_concurrent_use(store):
    """Stores are called from a pool of worker threads at once."""

    def work(i: int) -> bytes:
        key = f"cat{i % 3}/t{i}.ipynb"
        store.put(key, NB + str(i).encode())
        return store.get(key)

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(work, range(24)))
    assert results == [NB + str(i).encode() for i in range(24)]
    assert len(list(store.list())) == 24


# --- S3: presigned URLs --------------------------------------------------------------


def test_s3_presigned_url_downloads_and_expires(s3_store):
    s3_store.put("ml/a.ipynb", NB)
    url = s3_store.presigned_url("ml/a.ipynb", datetime.timedelta(seconds=1))
    assert url is not None
    query = parse_qs(urlsplit(url).query)
    assert query["X-Amz-Expires"] == ["1"]
    assert query["X-Amz-Algorithm"] == ["AWS4-HMAC-SHA256"]
    signed_at = datetime.datetime.strptime(query["X-Amz-Date"][0], "%Y%m%dT%H%M%SZ").replace(
        tzinfo=datetime.timezone.utc
    )
    assert abs(datetime.datetime.now(datetime.timezone.utc) - signed_at) < datetime.timedelta(
        seconds=5
    )

    # a plain HTTP GET, no S3 client, no credentials
    response = requests.get(url, timeout=10)
    assert response.status_code == 200
    assert response.content == NB

    time.sleep(2.1)
    response = requests.get(url, timeout=10)
    # Moto does not check X-Amz-Expires (nor the signature): the expired URL still works.
    # A real S3 or MinIO answers 403 AccessDenied "Request has expired". What we can check
    # is above: the URL carries the 1 s expiry and a signing time of now.
    assert response.status_code == 200


def test_s3_presigned_url_expiry_is_clamped(s3_store):
    def expires_param(expires: datetime.timedelta) -> int:
        url = s3_store.presigned_url("ml/a.ipynb", expires)
        return int(parse_qs(urlsplit(url).query)["X-Amz-Expires"][0])

    assert expires_param(datetime.timedelta(hours=2)) == 7200
    assert expires_param(datetime.timedelta(days=30)) == 7 * 24 * 3600
    assert expires_param(datetime.timedelta(0)) == 1
    assert expires_param(datetime.timedelta(seconds=-5)) == 1


def test_s3_presigned_url_uses_public_endpoint_without_network(moto_server):
    public = f"localhost:{moto_server.port}"
    store = make_s3_store(moto_server, public_endpoint=public)
    store.put("ml/a.ipynb", NB)
    url = store.presigned_url("ml/a.ipynb", datetime.timedelta(minutes=5))
    assert urlsplit(url).netloc == public
    assert urlsplit(url).scheme == "http"
    assert requests.get(url, timeout=10).content == NB

    # with a scheme, the public side may use another protocol than the endpoint
    tls = make_s3_store(moto_server, public_endpoint="https://s3.example.org")
    url = tls.presigned_url("ml/a.ipynb", datetime.timedelta(minutes=5))
    assert url.startswith(f"https://s3.example.org/{tls.bucket}/ml/a.ipynb?")

    # signing needs no request to the server (the region is configured)
    unreachable = make_s3_store(moto_server, endpoint="127.0.0.1:9", public_endpoint=public)
    started = time.monotonic()
    url = unreachable.presigned_url("ml/a.ipynb", datetime.timedelta(minutes=5))
    assert time.monotonic() - started < 1
    assert urlsplit(url).netloc == public


def test_s3_presigned_url_none_without_credentials(moto_server):
    store = make_s3_store(moto_server, access_key="", secret_key="")
    assert store.presigned_url("ml/a.ipynb", datetime.timedelta(minutes=5)) is None


# --- S3: buckets ---------------------------------------------------------------------


def raw_client(moto_server) -> Minio:
    return Minio(
        moto_server.endpoint,
        access_key=moto_server.access_key,
        secret_key=moto_server.secret_key,
        secure=False,
        region="us-east-1",
    )


def test_s3_bucket_created_when_missing(s3_store, moto_server):
    client = raw_client(moto_server)
    assert not client.bucket_exists(s3_store.bucket)
    s3_store.check()
    assert client.bucket_exists(s3_store.bucket)


def test_s3_bucket_created_once_on_first_use_from_many_threads(s3_store, moto_server):
    calls = []
    client = s3_store._client
    make_bucket = client.make_bucket

    def counting_make_bucket(*args, **kwargs):
        calls.append(threading.get_ident())
        return make_bucket(*args, **kwargs)

    # a counting wrapper around the real call, not a mock: the bucket is really created
    client.make_bucket = counting_make_bucket
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda i: s3_store.put(f"ml/{i}.ipynb", NB), range(16)))
    assert len(calls) == 1
    assert raw_client(moto_server).bucket_exists(s3_store.bucket)
    assert len(list(s3_store.list())) == 16


def test_s3_existing_bucket_is_used(moto_server):
    store = make_s3_store(moto_server)
    client = raw_client(moto_server)
    client.make_bucket(store.bucket)
    client.put_object(store.bucket, "ml/a.ipynb", io.BytesIO(NB), len(NB))
    assert store.get("ml/a.ipynb") == NB


def test_s3_missing_bucket_without_create_bucket_is_unavailable(moto_server):
    store = make_s3_store(moto_server, create_bucket=False)
    for call in (
        store.check,
        lambda: store.put("ml/a.ipynb", NB),
        lambda: store.get("ml/a.ipynb"),
        lambda: store.list(),
        lambda: store.exists("ml/a.ipynb"),
        lambda: store.delete("ml/a.ipynb"),
    ):
        with pytest.raises(StoreUnavailable, match="bucket does not exist"):
            call()
    assert not raw_client(moto_server).bucket_exists(store.bucket)

    # once an operator creates it, the store works, without a restart
    raw_client(moto_server).make_bucket(store.bucket)
    store.check()
    store.put("ml/a.ipynb", NB)
    assert store.get("ml/a.ipynb") == NB


# --- S3: faults ----------------------------------------------------------------------


def test_s3_server_down_fails_fast_then_recovers(s3_store, moto_server):
    s3_store.put("ml/a.ipynb", NB)
    moto_server.stop()
    try:
        for name, call in [
            ("put", lambda: s3_store.put("ml/b.ipynb", NB)),
            ("get", lambda: s3_store.get("ml/a.ipynb")),
            # list() fetches eagerly: the error comes from the call, not from iterating
            ("list", lambda: s3_store.list()),
            ("exists", lambda: s3_store.exists("ml/a.ipynb")),
            ("delete", lambda: s3_store.delete("ml/a.ipynb")),
            ("check", s3_store.check),
        ]:
            started = time.monotonic()
            with pytest.raises(StoreUnavailable) as info:
                call()
            elapsed = time.monotonic() - started
            assert elapsed < HANG_GUARD, f"{name} took {elapsed:.1f} s"
            message = str(info.value)
            assert "connection refused" in message, message
            assert moto_server.endpoint in message
    finally:
        moto_server.start()

    # Moto lost its state with the restart: the bucket is created again on demand and the
    # object is gone. A real S3 server would have kept both.
    with pytest.raises(ObjectNotFound):
        s3_store.get("ml/a.ipynb")
    s3_store.put("ml/b.ipynb", NB)
    assert s3_store.get("ml/b.ipynb") == NB
    assert keys(s3_store.list()) == {"ml/b.ipynb"}
    s3_store.check()


def test_s3_server_that_never_answers_times_out(moto_server):
    """A server that accepts connections but never answers: given up after the timeout
    (and two retries), not after minio's default of minutes."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)  # the kernel accepts connections; nobody reads or answers
        port = listener.getsockname()[1]
        store = make_s3_store(moto_server, endpoint=f"127.0.0.1:{port}", timeout=0.5)
        started = time.monotonic()
        with pytest.raises(StoreUnavailable, match="no answer before the timeout"):
            store.check()
        elapsed = time.monotonic() - started
    # three attempts of 0.5 s plus 0.2 s + 0.4 s of backoff at most
    assert 0.5 <= elapsed < HANG_GUARD


@pytest.mark.parametrize(
    ("code", "hint"),
    [
        ("AccessDenied", "access denied"),
        ("InvalidAccessKeyId", "access key not recognised"),
        ("SignatureDoesNotMatch", "check the secret key"),
        ("SomethingNew", "request refused"),
    ],
)
@pytest.mark.parametrize("operation", ["put", "get", "list", "exists", "delete", "check"])
def test_s3_refused_credentials_map_to_unavailable(moto_server, monkeypatch, code, hint, operation):
    """The one mocked place in this file: moto accepts any credentials, so it never answers
    AccessDenied / InvalidAccessKeyId / SignatureDoesNotMatch. Here one minio client method
    raises the S3Error that minio raises for such an answer; the rest is real."""
    secret = "SECRET-do-not-show-7f3a"
    store = make_s3_store(moto_server, secret_key=secret)
    store.check()  # the bucket exists; only the operation under test is refused
    client = store._client

    def refuse(*args, **kwargs):
        raise S3Error(
            response=None,
            code=code,
            message="Server says no",
            resource=f"/{store.bucket}/ml/a.ipynb",
            request_id="req-1",
            host_id="host-1",
            bucket_name=store.bucket,
        )

    method = {
        "put": "put_object",
        "get": "get_object",
        "list": "list_objects",
        "exists": "stat_object",
        "delete": "remove_object",
        "check": "bucket_exists",
    }[operation]
    monkeypatch.setattr(client, method, refuse)
    call = {
        "put": lambda: store.put("ml/a.ipynb", NB),
        "get": lambda: store.get("ml/a.ipynb"),
        "list": lambda: store.list(),
        "exists": lambda: store.exists("ml/a.ipynb"),
        "delete": lambda: store.delete("ml/a.ipynb"),
        "check": store.check,
    }[operation]
    with pytest.raises(StoreUnavailable) as info:
        call()
    message = str(info.value)
    assert hint in message
    assert code in message
    assert store.bucket in message
    assert secret not in message and secret not in repr(info.value)


# --- S3: secrets and configuration ---------------------------------------------------


def test_s3_secrets_never_shown(moto_server, caplog):
    access = "AKIA-recognisable-access-3c9d"
    secret = "SECRET-recognisable-secret-9b1e"
    caplog.set_level(logging.DEBUG)
    store = make_s3_store(moto_server, access_key=access, secret_key=secret)
    store.log.setLevel(logging.DEBUG)
    store.put("ml/a.ipynb", NB)
    store.check()

    for text in (store.describe(), repr(store), str(store)):
        assert secret not in text
        assert access not in text
    assert store.describe() == f"s3 http://{moto_server.endpoint}/{store.bucket}"

    errors = []
    moto_server.stop()
    try:
        for call in (store.check, lambda: store.get("ml/a.ipynb"), lambda: store.put("x", NB)):
            with pytest.raises(StoreUnavailable) as info:
                call()
            errors.append(info.value)
    finally:
        moto_server.start()
    with pytest.raises(ObjectNotFound) as info:
        store.get("ml/missing.ipynb")
    errors.append(info.value)

    for error in errors:
        # the exception, and the whole chain with its causes as a traceback would show it
        shown = str(error) + repr(error) + "".join(traceback.format_exception(error))
        assert secret not in shown
        assert access not in str(error) + repr(error)
    assert secret not in caplog.text


def test_s3_settings_from_environment(monkeypatch):
    monkeypatch.setenv("JUPYTERHUB_TEMPLATES_S3_ENDPOINT", "minio.example:9100")
    monkeypatch.setenv("JUPYTERHUB_TEMPLATES_S3_ACCESS_KEY", "ak")
    monkeypatch.setenv("JUPYTERHUB_TEMPLATES_S3_SECRET_KEY", "sk")
    monkeypatch.setenv("JUPYTERHUB_TEMPLATES_S3_BUCKET", "my-templates")
    monkeypatch.setenv("JUPYTERHUB_TEMPLATES_S3_SECURE", "Yes")
    monkeypatch.setenv("JUPYTERHUB_TEMPLATES_S3_REGION", "eu-west-1")
    store = S3TemplateStore()
    assert (store.endpoint, store.access_key, store.secret_key) == (
        "minio.example:9100",
        "ak",
        "sk",
    )
    assert (store.bucket, store.secure, store.region) == ("my-templates", True, "eu-west-1")
    assert store.describe() == "s3 https://minio.example:9100/my-templates"
    # signed for the configured region, without asking the (non-existent) server
    url = store.presigned_url("ml/a.ipynb", datetime.timedelta(minutes=1))
    assert "%2Feu-west-1%2Fs3%2F" in url

    for value, expected in [("1", True), ("true", True), ("0", False), ("no", False)]:
        monkeypatch.setenv("JUPYTERHUB_TEMPLATES_S3_SECURE", value)
        assert S3TemplateStore().secure is expected


def test_s3_defaults_without_environment(monkeypatch):
    for name in ("ENDPOINT", "ACCESS_KEY", "SECRET_KEY", "BUCKET", "SECURE", "REGION"):
        monkeypatch.delenv(f"JUPYTERHUB_TEMPLATES_S3_{name}", raising=False)
    store = S3TemplateStore()
    assert store.endpoint == "127.0.0.1:9000"
    assert (store.access_key, store.secret_key) == ("", "")
    assert (store.bucket, store.secure, store.region) == ("notebook-templates", False, "us-east-1")
    assert (store.public_endpoint, store.create_bucket) == ("", True)
    assert (store.timeout, store.max_pool_connections) == (10.0, 16)
    assert store.describe() == "s3 http://127.0.0.1:9000/notebook-templates"


@pytest.mark.parametrize(
    "endpoint", ["http://minio:9000", "https://minio:9000", "minio:9000/x", ""]
)
def test_s3_endpoint_must_be_host_port(endpoint):
    with pytest.raises(TraitError):
        S3TemplateStore(endpoint=endpoint)
