"""Unit tests of the pieces below HTTP: names, notebooks, cache, signing, logging, JSON."""

from __future__ import annotations

import json
import logging

import pytest
from notebooks import make_notebook

from jupyterhub_templates import jsontext
from jupyterhub_templates.catalog.cache import ContentCache
from jupyterhub_templates.catalog.names import check_category, check_filename, split_name
from jupyterhub_templates.catalog.parsing import parse_notebook
from jupyterhub_templates.errors import InvalidInput
from jupyterhub_templates.redact import SecretsFilter, scrub_text, scrub_uri
from jupyterhub_templates.service.signing import sign_download, verify_download


@pytest.mark.parametrize(
    "name",
    [
        "a.ipynb",
        "AutoML template (v2).ipynb",
        "análisis.ipynb",
        "x" * 249 + ".ipynb",
        "a-b_c+d,e@f.ipynb",
    ],
)
def test_good_filenames(name: str) -> None:
    assert check_filename(name) == name


@pytest.mark.parametrize(
    "name",
    [
        "",
        ".ipynb",
        "a.ipynb ",
        " a.ipynb",
        "a.json",
        "a/b.ipynb",
        "a\\b.ipynb",
        "..a.ipynb",
        "a\u200b.ipynb",
        "a\x7f.ipynb",
        "\uff46.ipynb",
        "a:b.ipynb",
        "a*.ipynb",
        "x" * 250 + ".ipynb",
    ],
)
def test_bad_filenames(name: str) -> None:
    with pytest.raises(InvalidInput):
        check_filename(name)


def test_categories_and_names() -> None:
    assert check_category("ml-2_x") == "ml-2_x"
    for bad in ["", "a/b", "a.b", "..", "x" * 65, "é"]:
        with pytest.raises(InvalidInput):
            check_category(bad)
    assert split_name("ml/a.ipynb") == ("ml", "a.ipynb")
    for bad in ["a.ipynb", "/ml/a.ipynb", "ml/x/a.ipynb", "ml\\a.ipynb", "../a.ipynb"]:
        with pytest.raises(InvalidInput):
            split_name(bad)


def test_parameters_inferred_with_types_and_help() -> None:
    info = parse_notebook(make_notebook())
    assert info.kernel_name == "python3"
    by_name = {p["name"]: p for p in info.parameters}
    assert by_name["n_estimators"] == {
        "name": "n_estimators",
        "type": "int",
        "annotation": "int",
        "default": "100",
        "default_value": 100,
        "help": "trees in the forest",
        "secret": False,
    }
    assert by_name["options"]["default_value"] == {"seed": 42}
    assert by_name["use_gpu"]["help"] == ""


def test_notebook_without_parameters_cell_or_tags() -> None:
    import json

    nb = json.loads(make_notebook(None))
    for cell in nb["cells"]:
        cell["metadata"].pop("tags", None)  # papermill's inference would fail on these
    info = parse_notebook(json.dumps(nb).encode())
    assert info.parameters == []


def test_non_literal_default_is_any() -> None:
    info = parse_notebook(make_notebook("when = datetime.now()  # computed"))
    [p] = info.parameters
    assert p["type"] == "any"
    assert p["default_value"] is None
    assert p["default"] == "datetime.now()"


def test_old_nbformat_is_converted() -> None:
    import nbformat

    nb3 = nbformat.v3.new_notebook(
        worksheets=[nbformat.v3.new_worksheet(cells=[nbformat.v3.new_code_cell(input="x = 1")])]
    )
    info = parse_notebook(nbformat.writes(nb3, version=3).encode())
    assert info.notebook.nbformat == 4


def test_cache_is_bounded_and_lru() -> None:
    cache = ContentCache(10)
    cache.put("a", b"12345")
    cache.put("b", b"12345")
    assert cache.get("a") == b"12345"  # a is now most recent
    cache.put("c", b"123")
    assert cache.get("b") is None
    assert cache.get("a") is not None and cache.get("c") is not None
    assert cache.size <= 10
    cache.put("huge", b"x" * 11)
    assert cache.get("huge") is None


def test_signing() -> None:
    sig = sign_download(b"k", "ml/a.ipynb", 1, 100)
    assert verify_download(b"k", "ml/a.ipynb", 1, 100, sig)
    assert not verify_download(b"k", "ml/a.ipynb", 2, 100, sig)
    assert not verify_download(b"k", "ml/b.ipynb", 1, 100, sig)
    assert not verify_download(b"k", "ml/a.ipynb", 1, 101, sig)
    assert not verify_download(b"other", "ml/a.ipynb", 1, 100, sig)


def test_scrub_uri() -> None:
    assert scrub_uri("/x?token=abc&q=1") == "/x?token=[secret]&q=1"
    assert "deadbeef" not in scrub_uri("/d?signature=deadbeef&version=1")
    assert scrub_uri("/plain") == "/plain"


def test_secrets_filter_masks_messages_and_args(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("test-secrets")
    handler = logging.StreamHandler()
    f = SecretsFilter(["supersecretvalue", ""])
    record = logger.makeRecord(
        "x", logging.INFO, __file__, 1, "key=%s", ("supersecretvalue",), None
    )
    assert f.filter(record)
    assert "supersecretvalue" not in record.getMessage()
    assert "[secret]" in record.getMessage()
    handler.close()


def test_credentials_are_masked_by_place_whatever_their_value() -> None:
    """Tokens the service does not know (a user's, refused) are masked where they sit:
    in a URL's query, and after ``token``/``bearer``; ordinary words stay."""
    line = "403 GET /services/templates/x?q=1&token=0123456789abcdef0123456789abcdef (::1)"
    assert "0123456789abcdef" not in scrub_text(line)
    assert "q=1&token=[secret] (::1)" in scrub_text(line)
    header = "Authorization: token 0123456789abcdef0123456789abcdef"
    assert scrub_text(header) == "Authorization: token [secret]"
    assert scrub_text("Bearer abcdefghijklmnopqrstuvwxyz") == "Bearer [secret]"
    plain = "HubAuth cache miss: token::12ab and the token is gone; ?q=token"
    assert scrub_text(plain) == plain
    record = logging.getLogger("t").makeRecord(
        "t", logging.WARNING, __file__, 1, "%d %s", (403, line), None
    )
    SecretsFilter([]).filter(record)
    assert "0123456789abcdef" not in record.getMessage()


def test_json_answers_are_strict_and_pages_bounded() -> None:
    with pytest.raises(ValueError):
        jsontext.dumps({"x": float("inf")})
    value = {"a": [1.0, float("nan"), {"b": -float("inf")}], "c": "ok"}
    assert jsontext.finite(value) == {"a": [1.0, None, {"b": None}], "c": "ok"}
    same = {"a": [1, 2.5, "x"]}
    assert jsontext.finite(same) is same and jsontext.is_finite(same)
    items = [{"i": i, "blob": "x" * 1000} for i in range(50)]
    page = json.loads(
        jsontext.page("rows", iter(items), total=60, limit=40, offset=10, max_bytes=10_000)
    )
    assert 1 <= page["count"] < 40 and page["count"] == len(page["rows"])
    assert page["next_offset"] == 10 + page["count"]
    assert [r["i"] for r in page["rows"]] == list(range(page["count"]))
    one = json.loads(jsontext.page("rows", iter(items), total=50, limit=5, offset=45, max_bytes=10))
    assert one["count"] == 1  # always at least one
    last = json.loads(
        jsontext.page("rows", iter(items[:3]), total=3, limit=10, offset=0, max_bytes=10**6)
    )
    assert last["count"] == 3 and last["next_offset"] is None


def test_dunder_names_are_no_parameters() -> None:
    from jupyterhub_templates.catalog.parameters import check_parameters
    from jupyterhub_templates.errors import InvalidInput
    from jupyterhub_templates.server.executor import ExecutorConfig, parse_request

    for name in ("__builtins__", "__name__", "__x__"):
        with pytest.raises(InvalidInput):
            check_parameters([], {name: 1}, allow_unknown=True)
        with pytest.raises(InvalidInput):
            parse_request(
                {"id": "a1", "input_path": "x.ipynb", "parameters": {name: 1}}, ExecutorConfig()
            )
    assert check_parameters([], {"__x": 1, "match": 2, "_": 3}, allow_unknown=True)


def test_the_server_extension_checks_requests_as_the_service_does() -> None:
    """One nesting limit and one set of path rules for the service and the extension."""
    from jupyterhub_templates.catalog.parameters import MAX_DEPTH, check_parameters
    from jupyterhub_templates.errors import InvalidInput
    from jupyterhub_templates.notebooks.paths import clean_notebook_path
    from jupyterhub_templates.server.executor import ExecutorConfig, parse_request

    def nested(depth: int) -> object:
        value: object = 1
        for _ in range(depth):
            value = [value]
        return value

    def extension(**body: object) -> object:
        return parse_request({"id": "a1", "input_path": "x.ipynb", **body}, ExecutorConfig())

    for depth, ok in ((MAX_DEPTH, True), (MAX_DEPTH + 1, False)):
        for check in (
            lambda d: check_parameters([], {"p": nested(d)}, allow_unknown=True),
            lambda d: extension(parameters={"p": nested(d)}),
        ):
            if ok:
                check(depth)
            else:
                with pytest.raises(InvalidInput):
                    check(depth)
    for path in (".hidden/x.ipynb", "a/.x.ipynb", "\uff0e\uff0e/x.ipynb", "a\u200b.ipynb"):
        with pytest.raises(InvalidInput):
            clean_notebook_path(path)
        with pytest.raises(InvalidInput):
            extension(input_path=path)
    assert extension(input_path="/a/b.ipynb").input_path == "a/b.ipynb"
