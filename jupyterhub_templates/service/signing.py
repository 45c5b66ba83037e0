"""HMAC-signed, expiring download URLs for stores that cannot presign (the directory)."""

from __future__ import annotations

import hashlib
import hmac


def _message(name: str, version: int, expires: int) -> bytes:
    return f"download\n{name}\n{version}\n{expires}".encode()


def sign_download(secret: bytes, name: str, version: int, expires: int) -> str:
    """Signature for GET of ``name`` at ``version`` until unix time ``expires``."""
    return hmac.new(secret, _message(name, version, expires), hashlib.sha256).hexdigest()


def verify_download(secret: bytes, name: str, version: int, expires: int, signature: str) -> bool:
    """Whether ``signature`` was made by :func:`sign_download` with the same inputs.
    Expiry is the caller's check."""
    expected = sign_download(secret, name, version, expires)
    # bytes: compare_digest refuses str with non-ASCII characters (a forged URL's)
    return hmac.compare_digest(expected.encode(), signature.encode("utf-8", "replace"))
