"""Unit tests of parameter checking and injection (catalog/parameters.py)."""

from __future__ import annotations

import ast
import copy
import json
from typing import Any

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from jupyterhub_templates.catalog.parameters import (
    ITEMS_REFUSED,
    MAX_DEPTH,
    NOT_FINITE,
    check_parameters,
    inject_parameters,
    item_type,
)
from jupyterhub_templates.errors import InvalidInput


def param(name: str, kind: str = "any", default: str = "0", annotation: str = "") -> dict:
    return {
        "name": name,
        "type": kind,
        "annotation": annotation,
        "default": default,
        "default_value": None,
        "help": "",
    }


DECLARED = [
    param("n_trials", "int", "10", "int"),
    param("rate", "float", "0.1"),
    param("flag", "bool", "False", "bool"),
    param("label", "str", '"x"', "str"),
    param("models", "list", '["a"]'),
    param("options", "dict", "{}"),
    param("anything", "any", "make()"),
    param("maybe", "int", "None"),
    param("opt", "int", "3", "Optional[int]"),
]


def refused(given: object, **kwargs: Any) -> dict[str, str]:
    with pytest.raises(InvalidInput) as info:
        check_parameters(DECLARED, given, **kwargs)
    assert info.value.status == 400
    return info.value.details["parameters"]


def notebook(parameters_cell: bool = True, **metadata: Any) -> nbformat.NotebookNode:
    cells = [new_markdown_cell("# Title"), new_code_cell("print(1)")]
    if parameters_cell:
        cells.insert(1, new_code_cell("n_trials = 10", metadata={"tags": ["parameters"]}))
    meta = {
        "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
        "language_info": {"name": "python"},
    }
    meta.update(metadata)
    # cells other than the parameters cell carry no tags, as in many uploaded notebooks
    return new_notebook(cells=cells, metadata=meta)


def injected_cell(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    cells = [c for c in nb.cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert len(cells) == 1
    return cells[0]


def assert_harmless(source: str, expected: dict[str, Any]) -> None:
    """The cell is exactly one ``name = <literal>`` per parameter, in order, nothing else,
    and each literal evaluates to the given value (same JSON, so same types)."""
    tree = ast.parse(source)
    assert len(tree.body) == len(expected)
    for node, (name, value) in zip(tree.body, expected.items(), strict=True):
        assert type(node) is ast.Assign
        assert len(node.targets) == 1
        assert type(node.targets[0]) is ast.Name
        assert node.targets[0].id == name
        assert same(ast.literal_eval(node.value), value)
    # and running it does nothing but bind those names (no builtins reachable)
    namespace: dict[str, Any] = {"__builtins__": {}}
    exec(compile(tree, "<injected>", "exec"), namespace)  # noqa: S102
    del namespace["__builtins__"]
    assert list(namespace) == list(expected)
    assert all(same(namespace[k], v) for k, v in expected.items())


def same(a: Any, b: Any) -> bool:
    return json.dumps(a) == json.dumps(b)


# -- the given object ------------------------------------------------------------------


@pytest.mark.parametrize("given", [[], "x", 1, True, [["a", 1]]])
def test_given_must_be_an_object(given: object) -> None:
    with pytest.raises(InvalidInput, match="must be a JSON object"):
        check_parameters(DECLARED, given)


def test_none_and_empty_give_nothing() -> None:
    assert check_parameters(DECLARED, None) == {}
    assert check_parameters(DECLARED, {}) == {}
    assert check_parameters([], None) == {}


# -- names ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("1x", "not a Python identifier"),
        ("", "not a Python identifier"),
        ("a b", "not a Python identifier"),
        ("a-b", "not a Python identifier"),
        ('x"); import os; os.system("id")#', "not a Python identifier"),
        ("x=1\ny", "not a Python identifier"),
        ("class", "a Python keyword"),
        ("None", "a Python keyword"),
        ("True", "a Python keyword"),
        ("lambda", "a Python keyword"),
        ("ｘ", "not in NFKC normal form"),  # noqa: RUF001 - the fullwidth look-alike is the point
        ("ﬁle", "not in NFKC normal form"),
        ("x" * 256, "longer than 255 characters"),
    ],
)
def test_bad_names(name: str, reason: str) -> None:
    details = refused({name: 1}, allow_unknown=True)
    assert len(details) == 1
    assert next(iter(details.values())).startswith(reason)


def test_nfkc_reason_names_the_lookalike() -> None:
    details = refused({"ｘ": 1}, allow_unknown=True)  # noqa: RUF001
    assert details["ｘ"] == "not in NFKC normal form (Python would read it as 'x')"  # noqa: RUF001


def test_non_string_name() -> None:
    details = refused({1: 1}, allow_unknown=True)
    assert details == {"1": "a parameter name must be a string"}


def test_long_name_is_shortened_in_details() -> None:
    details = refused({"y" * 10_000: 1}, allow_unknown=True)
    assert details == {"y" * 64 + "…": "longer than 255 characters"}


def test_good_names() -> None:
    names = {"x": 1, "_private": 2, "x" * 255: 3, "café": 4, "match": 5, "_": 6, "Δt": 7}
    assert check_parameters([], names, allow_unknown=True) == names


def test_unknown_names() -> None:
    assert refused({"nope": 1}) == {"nope": "not a parameter of this template"}
    assert check_parameters(DECLARED, {"nope": [1, {"a": None}]}, allow_unknown=True) == {
        "nope": [1, {"a": None}]
    }


# -- one error for every bad parameter -----------------------------------------------------


def test_one_error_lists_every_bad_parameter() -> None:
    given = {"n_trials": "ten", "1x": 5, "rate": 0.5, "flag": "maybe", "label": True}
    with pytest.raises(InvalidInput) as info:
        check_parameters(DECLARED, given)
    error = info.value
    assert error.details == {
        "parameters": {
            "n_trials": "expected an integer, got 'ten'",
            "1x": "not a Python identifier",
            "flag": "expected a boolean (true or false), got 'maybe'",
            "label": "expected a string, got true",
        }
    }
    assert error.message == (
        "4 parameters are invalid: n_trials: expected an integer, got 'ten'; "
        "1x: not a Python identifier; flag: expected a boolean (true or false), got 'maybe'; "
        "label: expected a string, got true"
    )


def test_single_error_message() -> None:
    with pytest.raises(InvalidInput) as info:
        check_parameters(DECLARED, {"n_trials": 1.5})
    assert info.value.message == "1 parameter is invalid: n_trials: expected an integer, got 1.5"


def test_message_lists_at_most_ten() -> None:
    with pytest.raises(InvalidInput) as info:
        check_parameters([], {f"{i}x": 0 for i in range(25)})
    assert len(info.value.details["parameters"]) == 25
    assert info.value.message.startswith("25 parameters are invalid: 0x: not a")
    assert info.value.message.endswith("; and 15 more")


def test_unprintable_name_is_quoted_in_message() -> None:
    with pytest.raises(InvalidInput) as info:
        check_parameters([], {"a\nb": 0}, allow_unknown=True)
    assert "'a\\nb': not a Python identifier" in info.value.message
    assert info.value.details == {"parameters": {"a\nb": "not a Python identifier"}}


# -- coercion --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "given", "expected"),
    [
        ("n_trials", 5, 5),
        ("n_trials", -5, -5),
        ("n_trials", 5.0, 5),
        ("n_trials", "42", 42),
        ("n_trials", " -7 ", -7),
        ("n_trials", 10**30, 10**30),
        ("rate", 1, 1.0),
        ("rate", 0.25, 0.25),
        ("rate", "0.5", 0.5),
        ("rate", "-1e-3", -0.001),
        ("rate", "3", 3.0),
        ("rate", ".5", 0.5),
        ("flag", True, True),
        ("flag", False, False),
        ("flag", "TRUE", True),
        ("flag", "yes", True),
        ("flag", "No", False),
        ("flag", "1", True),
        ("flag", "0", False),
        ("flag", 1, True),
        ("flag", 0, False),
        ("label", "hello", "hello"),
        ("label", "", ""),
        ("label", 3, "3"),
        ("label", 2.5, "2.5"),
        ("models", ["a", 1, None], ["a", 1, None]),
        ("models", [], []),
        ("models", '["a", "b"]', ["a", "b"]),
        ("options", {"a": [1, {"b": None}]}, {"a": [1, {"b": None}]}),
        ("options", ' {"seed": 42}', {"seed": 42}),
        ("anything", "text", "text"),
        ("anything", [1, 2], [1, 2]),
        ("anything", None, None),
        ("anything", 1.5, 1.5),
        ("maybe", None, None),
        ("maybe", 3, 3),
        ("opt", None, None),
    ],
)
def test_coercion(name: str, given: Any, expected: Any) -> None:
    result = check_parameters(DECLARED, {name: given})
    assert same(result, {name: expected})


@pytest.mark.parametrize(
    ("name", "given", "reason"),
    [
        ("n_trials", True, "expected an integer, got true"),
        ("n_trials", 1.5, "expected an integer, got 1.5"),
        ("n_trials", "ten", "expected an integer, got 'ten'"),
        ("n_trials", "1_000", "expected an integer, got '1_000'"),
        ("n_trials", "١٢", "expected an integer, got '١٢'"),
        ("n_trials", "1.0", "expected an integer, got '1.0'"),
        ("n_trials", [1], "expected an integer, got a list"),
        ("n_trials", "9" * 5000, "integer too large"),
        ("rate", False, "expected a number, got false"),
        ("rate", "nan", "expected a number, got 'nan'"),
        ("rate", "inf", "expected a number, got 'inf'"),
        ("rate", "1e999", NOT_FINITE),
        ("rate", 10**400, NOT_FINITE),
        ("rate", float("inf"), NOT_FINITE),
        ("rate", {}, "expected a number, got an object"),
        ("flag", 2, "expected a boolean (true or false), got 2"),
        ("flag", 1.0, "expected a boolean (true or false), got 1.0"),
        ("flag", "on", "expected a boolean (true or false), got 'on'"),
        ("label", True, "expected a string, got true"),
        ("label", ["a"], "expected a string, got a list"),
        ("label", {"a": 1}, "expected a string, got an object"),
        ("models", "a,b", "expected a list, got 'a,b'"),
        ("models", '{"a": 1}', "expected a list, got an object"),
        ("models", "[1, 2", "not valid JSON: '[1, 2'"),
        ("models", "[NaN]", "not valid JSON: '[NaN]'"),
        ("models", {"a": 1}, "expected a list, got an object"),
        ("options", "[1]", "expected an object, got a list"),
        ("options", [], "expected an object, got a list"),
        ("n_trials", None, "null is not allowed: the template's default is not None"),
        ("label", None, "null is not allowed: the template's default is not None"),
        ("models", None, "null is not allowed: the template's default is not None"),
    ],
)
def test_refused_values(name: str, given: Any, reason: str) -> None:
    assert refused({name: given}) == {name: reason}


def test_a_body_number_beyond_float_range_is_refused_as_not_finite() -> None:
    """JSON ``1e999`` is read by Python as infinity: refused, and the message says why."""
    body = json.loads('{"rate": 1e999, "anything": [-1e999]}')
    details = refused(body)
    assert details == {"rate": NOT_FINITE, "anything": f"{NOT_FINITE} (at [0])"}
    assert "not a finite number" in NOT_FINITE


@pytest.mark.parametrize(
    ("annotation", "expected"),
    [
        ("list[str]", ("list", "str")),
        ("List[int]", ("list", "int")),
        ("typing.List[float]", ("list", "float")),
        ("Sequence[bool]", ("list", "bool")),
        ("tuple[int, ...]", ("list", "int")),
        ("Optional[list[str]]", ("list", "str")),
        ("list[str] | None", ("list", "str")),
        ("dict[str, float]", ("dict", "float")),
        ("Dict[str, int]", ("dict", "int")),
        ("Mapping[str, str]", ("dict", "str")),
        ("list", None),
        ("", None),
        ("list[list[int]]", None),
        ("list[Any]", None),
        ("dict[int, str]", None),
        ("tuple[int, str]", None),
        ("list[int] | str", None),
    ],
)
def test_item_type_of_annotations(annotation: str, expected: tuple[str, str] | None) -> None:
    assert item_type(annotation) == expected


TYPED = [
    param("names", "list", '["a"]', "list[str]"),
    param("sizes", "list", "[1]", "List[int]"),
    param("rates", "list", "[0.5]", "list[float]"),
    param("flags", "list", "[True]", "list[bool]"),
    param("weights", "dict", "{}", "dict[str, float]"),
    param("labels", "dict", "{}", "dict[str, str]"),
    param("maybe", "list", "None", "Optional[list[int]]"),
]


def test_annotated_items_accepted_and_coerced() -> None:
    given = {
        "names": ["a", "b"],
        "sizes": "[1, 2.0]",
        "rates": [1, 0.5],
        "flags": [True, False],
        "weights": {"a": 1, "b": 0.25},
        "labels": {},
        "maybe": None,
    }
    result = check_parameters(TYPED, given)
    assert result == {**given, "sizes": [1, 2]}
    assert [type(v) for v in result["sizes"]] == [int, int]
    assert check_parameters(TYPED, {"maybe": [3]}) == {"maybe": [3]}


@pytest.mark.parametrize(
    ("name", "given", "reason"),
    [
        ("names", [1, 2], ITEMS_REFUSED[("list", "str")] + "; item [0] is 1"),
        ("names", '["a", null]', ITEMS_REFUSED[("list", "str")] + "; item [1] is null"),
        ("sizes", [1, 1.5], ITEMS_REFUSED[("list", "int")] + "; item [1] is 1.5"),
        ("sizes", [True], ITEMS_REFUSED[("list", "int")] + "; item [0] is true"),
        ("rates", ["0.5"], ITEMS_REFUSED[("list", "float")] + "; item [0] is '0.5'"),
        ("flags", [1], ITEMS_REFUSED[("list", "bool")] + "; item [0] is 1"),
        ("weights", {"a": "x"}, ITEMS_REFUSED[("dict", "float")] + "; item [\"a\"] is 'x'"),
        ("labels", {"k": ["a"]}, ITEMS_REFUSED[("dict", "str")] + '; item ["k"] is a list'),
        ("maybe", ["1"], ITEMS_REFUSED[("list", "int")] + "; item [0] is '1'"),
    ],
)
def test_annotated_items_refused(name: str, given: Any, reason: str) -> None:
    with pytest.raises(InvalidInput) as info:
        check_parameters(TYPED, {name: given})
    assert info.value.details == {"parameters": {name: reason}}
    assert info.value.field == "parameters"
    assert reason in info.value.message


def test_optional_list_annotation_is_inferred_as_a_nullable_list() -> None:
    from notebooks import make_notebook

    from jupyterhub_templates.catalog.parsing import parse_notebook

    info = parse_notebook(
        make_notebook('names: list[str] = ["a"]\nsizes: Optional[List[int]] = None\n')
    )
    by_name = {p["name"]: p for p in info.parameters}
    assert by_name["names"]["type"] == "list"
    assert by_name["sizes"]["type"] == "list"
    assert check_parameters(info.parameters, {"sizes": None}) == {"sizes": None}
    with pytest.raises(InvalidInput, match="a list of whole numbers"):
        check_parameters(info.parameters, {"sizes": ["x"]})
    with pytest.raises(InvalidInput, match="a list of strings"):
        check_parameters(info.parameters, {"names": [1, 2]})


def test_declared_order_then_unknown_in_given_order() -> None:
    given = {"zeta": 1, "label": "a", "alpha": 2, "n_trials": 3}
    result = check_parameters(DECLARED, given, allow_unknown=True)
    assert list(result) == ["n_trials", "label", "zeta", "alpha"]


def test_input_is_not_modified_and_result_is_a_copy() -> None:
    given = {"options": {"a": [1]}, "models": ["x"]}
    before = copy.deepcopy(given)
    result = check_parameters(DECLARED, given)
    result["options"]["a"].append(2)
    assert given == before


def test_unknown_declared_type_is_any() -> None:
    declared = [param("thing", "datetime", "now()")]
    assert check_parameters(declared, {"thing": {"a": 1}}) == {"thing": {"a": 1}}


# -- JSON values -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value", [float("nan"), float("inf"), float("-inf"), [1, float("nan")], {"a": float("inf")}]
)
def test_nan_and_infinity_refused(value: Any) -> None:
    details = refused({"anything": value})
    assert details["anything"].startswith("not a finite number (NaN, Infinity")


def test_nan_from_json_loads_refused() -> None:
    given = json.loads('{"anything": NaN, "rate": Infinity, "models": [-Infinity]}')
    details = refused(given)
    assert set(details) == {"anything", "rate", "models"}
    assert details["models"] == f"{NOT_FINITE} (at [0])"


def nested(depth: int) -> Any:
    value: Any = 1
    for i in range(depth):
        value = [value] if i % 2 else {"k": value}
    return value


def test_nesting_depth() -> None:
    assert check_parameters(DECLARED, {"anything": nested(MAX_DEPTH)}) == {
        "anything": nested(MAX_DEPTH)
    }
    assert refused({"anything": nested(MAX_DEPTH + 1)}) == {
        "anything": f"nested deeper than {MAX_DEPTH} levels"
    }
    # deep enough to break recursion elsewhere; refused cleanly
    assert refused({"anything": nested(100_000)}) == {
        "anything": f"nested deeper than {MAX_DEPTH} levels"
    }


def test_deep_json_text_refused() -> None:
    text = "[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1)
    assert refused({"models": text}) == {"models": f"nested deeper than {MAX_DEPTH} levels"}
    very_deep = "[" * 100_000 + "]" * 100_000
    assert refused({"models": very_deep})["models"].startswith("not valid JSON")


def test_cycle_refused() -> None:
    loop: list = []
    loop.append(loop)
    assert refused({"anything": loop}) == {"anything": f"nested deeper than {MAX_DEPTH} levels"}


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ({1: "a"}, "object keys must be strings"),
        ((1, 2), "not a JSON value (tuple)"),
        ({1, 2}, "not a JSON value (set)"),
        (b"x", "not a JSON value (bytes)"),
        (object(), "not a JSON value (object)"),
        ([1, (2,)], "not a JSON value (tuple) (at [1])"),
        ({"a": {"b": b""}}, 'not a JSON value (bytes) (at ["a"]["b"])'),
        ("a\x00b", "contains a NUL character (U+0000)"),
        ({"k\x00": 1}, "contains a NUL character (U+0000)"),
        (["\ud800"], "contains a lone surrogate, not valid Unicode (at [0])"),
    ],
)
def test_not_json_values(value: Any, reason: str) -> None:
    assert refused({"anything": value}) == {"anything": reason}


def test_subclasses_of_json_types_refused() -> None:
    class Sneaky(str):
        def __str__(self) -> str:
            return '1; import os; os.system("id")'

    class Evil(int):
        def __format__(self, spec: str) -> str:
            return "1; import os"

    assert refused({"anything": Sneaky("a")}) == {"anything": "not a JSON value (Sneaky)"}
    assert refused({"anything": Evil(1)}) == {"anything": "not a JSON value (Evil)"}
    with pytest.raises(InvalidInput):
        inject_parameters(notebook(), {"x": [Evil(1)]}, kernel_name=None, language=None)


# -- injection -------------------------------------------------------------------------

HOSTILE = [
    'it\'s "quoted"',
    '"""triple"""',
    "'''triple'''",
    "line1\nline2\r\nline3",
    "back\\slash\\",
    "\\",
    '\\"',
    "\\n literally",
    '"); import os; os.system("x")#',
    "'); import os; os.system('x')#",
    '" + __import__("os").system("id") + "',
    "tab\tbell\x07esc\x1bdel\x7f",
    "\x01\x1f\x85\u2028\u2029",
    "é ☃ 😀 中文 \u200b \ufeff",
    "{x} %s ${HOME} $(id) `id`",
    "# comment",
    "",
]


def inject(params: dict[str, Any], nb: nbformat.NotebookNode | None = None) -> dict:
    nb = nb if nb is not None else notebook()
    out = inject_parameters(nb, params, kernel_name=None, language=None)
    nbformat.validate(out)
    return out


@pytest.mark.parametrize("value", HOSTILE)
def test_hostile_strings_are_inert(value: str) -> None:
    checked = check_parameters([], {"s": value}, allow_unknown=True)
    out = inject(checked)
    assert_harmless(injected_cell(out).source, {"s": value})


def test_all_hostile_strings_at_once_with_nested_values() -> None:
    params = {f"s{i}": v for i, v in enumerate(HOSTILE)}
    params["as_list"] = list(HOSTILE)
    params["as_keys"] = {v: v for v in HOSTILE}
    params["nested"] = {"a": [1, -2, 0.5, -0.0, 1e300, 10**40, True, False, None, {"b": []}]}
    params["deep"] = nested(MAX_DEPTH)
    checked = check_parameters([], params, allow_unknown=True)
    out = inject(checked)
    assert_harmless(injected_cell(out).source, params)
    assert out.metadata.papermill.parameters == params
    # and the notebook still writes and reads back as the same JSON
    again = nbformat.reads(nbformat.writes(out), as_version=4)
    assert_harmless(injected_cell(again).source, params)


def test_injected_cell_comment_only_besides_assignments() -> None:
    out = inject({"a": 1, "b": "x"})
    lines = injected_cell(out).source.splitlines()
    assert lines == ["# Parameters", "a = 1", 'b = "x"']


def test_cell_goes_right_after_parameters_and_input_is_untouched() -> None:
    nb = notebook()
    before = copy.deepcopy(nb)
    out = inject_parameters(nb, {"n_trials": 3}, kernel_name=None, language=None)
    assert nb == before
    assert out is not nb
    assert [c.metadata["tags"] for c in out.cells] == [
        [],
        ["parameters"],
        ["injected-parameters"],
        [],
    ]
    assert out.cells[1].source == "n_trials = 10"
    assert out.metadata.papermill.parameters == {"n_trials": 3}
    assert "papermill" not in nb.metadata


def test_cell_goes_first_without_parameters_cell() -> None:
    out = inject({"x": 1}, notebook(parameters_cell=False))
    assert out.cells[0].metadata.tags == ["injected-parameters"]
    assert len(out.cells) == 3


def test_existing_injected_cell_is_replaced() -> None:
    first = inject({"x": 1})
    second = inject({"x": 2, "y": 3}, first)
    cells = [c for c in second.cells if "injected-parameters" in c.metadata.tags]
    assert len(cells) == 1
    assert_harmless(cells[0].source, {"x": 2, "y": 3})
    assert len(second.cells) == len(first.cells)


def test_parameter_dict_is_not_shared_with_the_notebook() -> None:
    params = {"x": [1]}
    out = inject(params)
    params["x"].append(2)
    assert out.metadata.papermill.parameters == {"x": [1]}


def test_empty_parameters_inject_nothing() -> None:
    nb = notebook()
    before = copy.deepcopy(nb)
    out = inject_parameters(nb, {}, kernel_name=None, language="brainfuck")
    assert nb == before
    assert [c.source for c in out.cells] == [c.source for c in nb.cells]
    assert all(isinstance(c.metadata["tags"], list) for c in out.cells)
    assert "papermill" not in out.metadata


def test_tags_added_to_every_cell() -> None:
    nb = notebook()
    for cell in nb.cells:
        cell.metadata.pop("tags", None)
    nb.cells[2].metadata["tags"] = None  # malformed: replaced
    out = inject_parameters(nb, {"x": 1}, kernel_name=None, language=None)
    assert all(isinstance(c.metadata["tags"], list) for c in out.cells)
    # without a parameters tag left, the cell goes first
    assert out.cells[0].metadata.tags == ["injected-parameters"]
    assert "tags" not in nb.cells[0].metadata


def test_kernel_and_language_overrides() -> None:
    nb = notebook(kernelspec={"name": "mlflow_kernel", "display_name": "MLflow"})
    out = inject_parameters(nb, {"x": 1}, kernel_name="mlflow_kernel", language="python")
    assert_harmless(injected_cell(out).source, {"x": 1})
    nb.metadata.pop("language_info")
    out = inject_parameters(nb, {"x": 1}, kernel_name=None, language="python")
    assert_harmless(injected_cell(out).source, {"x": 1})


@pytest.mark.parametrize(
    ("kernel", "language", "message"),
    [
        ("cobol", "cobol", "papermill has no parameter support for kernel 'cobol'"),
        ("ir", "R", "only Python notebooks can be parameterized safely"),
        ("julia-1.10", "julia", "only Python notebooks can be parameterized safely"),
        ("bash", "python", "only Python notebooks can be parameterized safely"),
        ("python3", ".net-powershell", "only Python notebooks can be parameterized safely"),
    ],
)
def test_unsupported_languages(kernel: str, language: str, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        inject_parameters(notebook(), {"x": 1}, kernel_name=kernel, language=language)


def test_pyspark_kernel_is_python() -> None:
    out = inject_parameters(notebook(), {"x": 1}, kernel_name="pysparkkernel", language="scala")
    assert_harmless(injected_cell(out).source, {"x": 1})


def test_missing_kernel_or_language() -> None:
    nb = notebook()
    nb.metadata = nbformat.NotebookNode()
    with pytest.raises(InvalidInput, match="names no kernel or no language"):
        inject_parameters(nb, {"x": 1}, kernel_name=None, language=None)
    with pytest.raises(InvalidInput, match="names no kernel or no language"):
        inject_parameters(nb, {"x": 1}, kernel_name="python3", language=None)


@pytest.mark.parametrize(
    ("params", "details"),
    [
        ({"a; import os": 1}, {"a; import os": "not a Python identifier"}),
        ({"x": float("nan")}, {"x": NOT_FINITE}),
        ({"x": b"1"}, {"x": "not a JSON value (bytes)"}),
        (
            {"class": 1, "ok": 1, "y": {2: 3}},
            {"class": "a Python keyword", "y": "object keys must be strings"},
        ),
    ],
)
def test_inject_refuses_what_check_refuses(params: dict, details: dict) -> None:
    with pytest.raises(InvalidInput) as info:
        inject_parameters(notebook(), params, kernel_name=None, language=None)
    assert info.value.details == {"parameters": details}


def test_inject_real_template_notebook() -> None:
    from notebooks import make_notebook

    from jupyterhub_templates.catalog.parsing import parse_notebook

    info = parse_notebook(make_notebook())
    given = {"n_estimators": "200", "use_gpu": "yes", "models": '["rf"]', "learning_rate": 1}
    checked = check_parameters(info.parameters, given)
    assert checked == {"n_estimators": 200, "learning_rate": 1.0, "use_gpu": True, "models": ["rf"]}
    out = inject_parameters(
        info.notebook, checked, kernel_name=info.kernel_name, language=info.language
    )
    assert out.cells[1].metadata.tags == ["parameters"]
    assert_harmless(out.cells[2].source, checked)


def test_the_lab_form_says_what_the_service_says() -> None:
    """The form's messages for item types and non-finite numbers (FORM_ERRORS in
    src/form.ts) are the service's reasons as sentences."""
    import re
    from pathlib import Path

    source = (Path(__file__).parent.parent / "src" / "form.ts").read_text()
    block = source[source.index("export const FORM_ERRORS") :]
    block = block[: block.index("} as const")]
    form = dict(re.findall(r"(\w+):\s*'([^']*)'", block))

    def sentence(reason: str) -> str:
        return reason[0].upper() + reason[1:] + "."

    assert form["notFinite"] == sentence(NOT_FINITE)
    for (container, kind), reason in ITEMS_REFUSED.items():
        assert form[f"{container}Of{kind.capitalize()}"] == sentence(reason)
