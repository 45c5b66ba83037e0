"""Looking for secrets where they must not be: logs, files and HTTP answers.

A :class:`SecretScanner` knows the secret values of a test setup (tokens, keys,
passwords) and the forms they commonly take when they leak: the raw value, URL-encoded,
JSON-escaped and base64 (also inside a longer base64 text, and of ``key:secret`` pairs,
as in a Basic ``Authorization`` header). Anything it is shown is searched for every
form; what it finds is kept as :class:`Finding` s, so one test can look at everything
first and report every leak at once (:meth:`SecretScanner.assert_clean`).

Any end-to-end test can use it over its Hub's logs, e.g.::

    scanner = SecretScanner({"service token": hub.service_token})
    scanner.scan_file(hub.log)
    scanner.assert_clean()
"""

from __future__ import annotations

import base64
import json
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, quote_plus

import requests

#: secrets shorter than this are not searched (they would match by chance)
MIN_SECRET_LENGTH = 8
#: a credential in a URL, whatever its value (masked ones, "[secret]" or "...", pass):
#: tokens the scanner was not told of (minted by the service, refused ones) are found too
TOKEN_IN_URL = re.compile(r"(?i)[?&;](?:token|access_token)=([A-Za-z0-9_\-]{16,})")


def _base64_cores(data: bytes) -> set[str]:
    """The base64 text that encodes ``data`` whatever its alignment in a longer input:
    for each of the 3 offsets, the characters fully determined by ``data``'s bits."""
    cores = set()
    for offset in range(3):
        for encode in (base64.b64encode, base64.urlsafe_b64encode):
            text = encode(b"\0" * offset + data).decode()
            start = math.ceil(8 * offset / 6)
            end = (8 * (offset + len(data))) // 6
            if end - start >= MIN_SECRET_LENGTH:
                cores.add(text[start:end])
    return cores


def encoded_forms(secret: str) -> dict[str, str]:
    """``{form name: text}``: how ``secret`` may appear once leaked."""
    forms = {
        "raw": secret,
        "url-encoded": quote(secret, safe=""),
        "form-encoded": quote_plus(secret),
        "json-escaped": json.dumps(secret)[1:-1],
    }
    for i, core in enumerate(sorted(_base64_cores(secret.encode()))):
        forms[f"base64#{i}"] = core
    return forms


@dataclass(frozen=True)
class Finding:
    """A secret (by name, never its value) found in ``where``, in the given form."""

    secret: str
    form: str
    where: str
    context: str  # the text around it, with the secret itself masked

    def __str__(self) -> str:
        return f"{self.secret} ({self.form}) in {self.where}: …{self.context}…"


@dataclass
class SecretScanner:
    """Searches texts for a set of named secrets in their common encodings.

    ``secrets`` maps a name ("S3 secret key") to its value; values shorter than
    :data:`MIN_SECRET_LENGTH` are refused (a test must give distinctive ones).
    ``pairs`` are (name, user, secret) triples also searched as base64 of
    ``user:secret`` (HTTP Basic credentials).
    """

    secrets: Mapping[str, str]
    pairs: Iterable[tuple[str, str, str]] = ()
    findings: list[Finding] = field(default_factory=list)
    scanned: dict[str, int] = field(default_factory=dict)  # what was looked at: bytes

    def __post_init__(self) -> None:
        self._needles: list[tuple[str, str, str]] = []  # (name, form, text)
        for name, value in self.secrets.items():
            if len(value) < MIN_SECRET_LENGTH:
                raise ValueError(f"secret {name!r} is too short to search for")
            for form, text in encoded_forms(value).items():
                self._needles.append((name, form, text))
        for name, user, value in self.pairs:
            pair = f"{user}:{value}".encode()
            for encode in (base64.b64encode, base64.urlsafe_b64encode):
                self._needles.append((name, "base64 user:secret", encode(pair).decode()))
        # the same text may be several forms of one secret (hex tokens): report once
        seen: set[tuple[str, str]] = set()
        self._needles = [
            n for n in self._needles if (n[0], n[2]) not in seen and not seen.add((n[0], n[2]))
        ]

    def scan_text(self, where: str, text: str, *, urls: bool = False) -> list[Finding]:
        """Search ``text``; record and return what was found. ``urls``: also report any
        credential in a URL (:data:`TOKEN_IN_URL`), known or not (for logs)."""
        self.scanned[where] = self.scanned.get(where, 0) + len(text)
        found = []
        if urls:
            for m in TOKEN_IN_URL.finditer(text):
                around = text[max(0, m.start() - 80) : m.end() + 80].replace(m.group(1), "<TOKEN>")
                found.append(Finding("a credential in a URL", "query argument", where, around))
        for name, form, needle in self._needles:
            at = text.find(needle)
            if at >= 0:
                around = text[max(0, at - 80) : at + len(needle) + 80].replace(needle, "<SECRET>")
                found.append(Finding(name, form, where, around))
        self.findings.extend(found)
        return found

    def scan_bytes(self, where: str, data: bytes) -> list[Finding]:
        return self.scan_text(where, data.decode("utf-8", errors="replace"))

    def scan_file(
        self, path: Path, where: str | None = None, *, urls: bool = True
    ) -> list[Finding]:
        """A file; by default as a log, so that credentials in URLs count too."""
        text = path.read_bytes().decode("utf-8", errors="replace")
        return self.scan_text(where or str(path), text, urls=urls)

    def scan_tree(self, root: Path, pattern: str = "*") -> list[Finding]:
        """Every regular file under ``root`` whose name matches ``pattern``, for the
        known secrets (not as logs: a server's own runtime files hold its own token in
        a URL, which is no leak)."""
        found = []
        for path in sorted(root.rglob(pattern)):
            if path.is_file() and not path.is_symlink():
                found += self.scan_file(path, urls=False)
        return found

    def scan_response(self, response: requests.Response) -> list[Finding]:
        """An HTTP answer: status line, headers and body (the request is not searched:
        it legitimately carries the caller's own token)."""
        request = response.request
        where = f"answer to {request.method} {request.path_url}"
        head = "\n".join(f"{k}: {v}" for k, v in response.headers.items())
        return self.scan_text(where, f"{response.status_code}\n{head}\n\n{response.text}")

    def recorder(self) -> requests.Session:
        """A requests session that scans every answer it receives (redirects too)."""
        session = requests.Session()
        session.trust_env = False

        def hook(response: requests.Response, *args: object, **kwargs: object) -> None:
            self.scan_response(response)

        session.hooks["response"].append(hook)
        return session

    def assert_clean(self) -> None:
        assert self.scanned, "nothing was scanned"
        assert not self.findings, "secrets leaked:\n" + "\n".join(
            str(f) for f in self.findings[:50]
        )


def presigned_credential(f: Finding) -> bool:
    """Whether ``f`` is an S3 access key id in the ``X-Amz-Credential`` of a presigned
    URL that ``download-url`` answered with. By protocol such a URL names the key id
    (not secret: the signature made with the secret key is): the one place an S3
    access key may appear."""
    return (
        "access" in f.secret.lower()
        and f.form == "raw"
        and f.where.startswith("answer to GET ")
        and "/minio/download-url/" in f.where
        and "X-Amz-Credential=<SECRET>%2F" in f.context
    )
