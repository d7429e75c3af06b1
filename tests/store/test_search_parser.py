"""The run-search filter grammar: parse trees, and where errors point."""

from __future__ import annotations

import pytest

from dockyard.errors import InvalidArgument, InvalidFilter
from dockyard.store.search import (
    BoolOp,
    Comparison,
    Field,
    OrderBy,
    parse_filter,
    parse_order_by,
)


def metric(key: str) -> Field:
    return Field("metric", key)


def param(key: str) -> Field:
    return Field("param", key)


def tag(key: str) -> Field:
    return Field("tag", key)


def attr(key: str) -> Field:
    return Field("attribute", key)


def error_of(text: str) -> InvalidFilter:
    with pytest.raises(InvalidFilter) as info:
        parse_filter(text)
    return info.value


# parse trees ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "tree"),
    [
        ("metrics.acc > 0.5", Comparison(metric("acc"), ">", 0.5)),
        ("metrics.acc >= 1", Comparison(metric("acc"), ">=", 1.0)),
        ("metrics.acc < 1", Comparison(metric("acc"), "<", 1.0)),
        ("metrics.acc <= 1", Comparison(metric("acc"), "<=", 1.0)),
        ("metrics.acc = 1", Comparison(metric("acc"), "=", 1.0)),
        ("metrics.acc == 1", Comparison(metric("acc"), "=", 1.0)),
        ("metrics.acc != 1", Comparison(metric("acc"), "!=", 1.0)),
        ("metrics.acc <> 1", Comparison(metric("acc"), "!=", 1.0)),
        ("params.lr = '0.01'", Comparison(param("lr"), "=", "0.01")),
        ('params.lr = "0.01"', Comparison(param("lr"), "=", "0.01")),
        ("params.model != 'cnn'", Comparison(param("model"), "!=", "cnn")),
        ("tags.team like 'vis%'", Comparison(tag("team"), "like", "vis%")),
        ("tags.team ilike 'VIS%'", Comparison(tag("team"), "ilike", "VIS%")),
        ("metric.acc > 1", Comparison(metric("acc"), ">", 1.0)),
        ("param.lr = 'x'", Comparison(param("lr"), "=", "x")),
        ("tag.t = 'x'", Comparison(tag("t"), "=", "x")),
        # no spaces needed around operators
        ("metrics.acc>0.5", Comparison(metric("acc"), ">", 0.5)),
        ("params.lr='x'", Comparison(param("lr"), "=", "x")),
        ("metrics.acc>.5", Comparison(metric("acc"), ">", 0.5)),
    ],
)
def test_comparisons(text: str, tree: Comparison) -> None:
    assert parse_filter(text) == tree


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("status = 'FINISHED'", "status"),
        ("attributes.status = 'FINISHED'", "status"),
        ("attribute.status = 'FINISHED'", "status"),
        ("attr.status = 'FINISHED'", "status"),
        ("run.status = 'FINISHED'", "status"),
        ("name = 'x'", "name"),
        ("run_name = 'x'", "name"),
        ("run.name = 'x'", "name"),
        ("id = 'x'", "id"),
        ("run_id = 'x'", "id"),
        ("attributes.run_id = 'x'", "id"),
        ("user = 'x'", "user"),
        ("parent_id = 'x'", "parent_id"),
        ("experiment_id = 'x'", "experiment_id"),
    ],
)
def test_string_attributes_and_aliases(text: str, key: str) -> None:
    tree = parse_filter(text)
    assert isinstance(tree, Comparison)
    assert tree.field == attr(key)
    assert not tree.field.numeric


@pytest.mark.parametrize("key", ["start_time", "end_time"])
def test_time_attributes_are_numeric(key: str) -> None:
    tree = parse_filter(f"{key} >= 1700000000000")
    assert tree == Comparison(attr(key), ">=", 1.7e12)
    assert tree.field.numeric


def test_status_values_are_normalised_to_upper_case() -> None:
    assert parse_filter("status = 'running'") == Comparison(attr("status"), "=", "RUNNING")
    assert parse_filter("status in ('failed', 'Killed')") == Comparison(
        attr("status"), "in", ("FAILED", "KILLED")
    )
    # a pattern is left alone: LIKE is case-sensitive, and the caller chose the case
    assert parse_filter("status like 'FIN%'") == Comparison(attr("status"), "like", "FIN%")
    assert parse_filter("status like 'fin%'") == Comparison(attr("status"), "like", "fin%")


def test_and_binds_tighter_than_or() -> None:
    a = Comparison(metric("a"), ">", 1.0)
    b = Comparison(metric("b"), ">", 2.0)
    c = Comparison(metric("c"), ">", 3.0)
    assert parse_filter("metrics.a > 1 or metrics.b > 2 and metrics.c > 3") == BoolOp(
        "or", (a, BoolOp("and", (b, c)))
    )
    assert parse_filter("metrics.a > 1 and metrics.b > 2 or metrics.c > 3") == BoolOp(
        "or", (BoolOp("and", (a, b)), c)
    )


def test_parentheses_group() -> None:
    a = Comparison(metric("a"), ">", 1.0)
    b = Comparison(metric("b"), ">", 2.0)
    c = Comparison(metric("c"), ">", 3.0)
    assert parse_filter("(metrics.a > 1 or metrics.b > 2) and metrics.c > 3") == BoolOp(
        "and", (BoolOp("or", (a, b)), c)
    )
    assert parse_filter("((metrics.a > 1))") == a
    assert parse_filter("metrics.a > 1 and (metrics.b > 2 or (metrics.c > 3))") == BoolOp(
        "and", (a, BoolOp("or", (b, c)))
    )


def test_chains_are_flat() -> None:
    tree = parse_filter("metrics.a > 1 and metrics.b > 2 and metrics.c > 3")
    assert isinstance(tree, BoolOp)
    assert tree.op == "and"
    assert len(tree.items) == 3
    tree = parse_filter("metrics.a > 1 or metrics.b > 2 or metrics.c > 3")
    assert isinstance(tree, BoolOp)
    assert tree.op == "or"
    assert len(tree.items) == 3


def test_in_and_not_in() -> None:
    assert parse_filter("params.m in ('a', 'b')") == Comparison(param("m"), "in", ("a", "b"))
    assert parse_filter("params.m in ('a')") == Comparison(param("m"), "in", ("a",))
    assert parse_filter("params.m not in ('a','b')") == Comparison(
        param("m"), "not in", ("a", "b")
    )
    assert parse_filter("metrics.acc in (1, 2.5, -3)") == Comparison(
        metric("acc"), "in", (1.0, 2.5, -3.0)
    )
    assert parse_filter("tags.t NOT IN (\"x\")") == Comparison(tag("t"), "not in", ("x",))


@pytest.mark.parametrize(
    "text",
    [
        "METRICS.acc > 1 AND PARAMS.lr LIKE 'x' OR TAGS.t ILIKE 'y'",
        "Metrics.acc > 1 And Params.lr Like 'x' Or Tags.t iLike 'y'",
        "metrics.acc > 1 and params.lr like 'x' or tags.t ilike 'y'",
    ],
)
def test_keywords_are_case_insensitive(text: str) -> None:
    assert parse_filter(text) == BoolOp(
        "or",
        (
            BoolOp(
                "and",
                (Comparison(metric("acc"), ">", 1.0), Comparison(param("lr"), "like", "x")),
            ),
            Comparison(tag("t"), "ilike", "y"),
        ),
    )


def test_keys_keep_their_case() -> None:
    assert parse_filter("METRICS.Acc > 1") == Comparison(metric("Acc"), ">", 1.0)
    assert parse_filter("Status = 'FINISHED'") == Comparison(attr("status"), "=", "FINISHED")
    assert parse_filter("params.a not IN ('x')") == Comparison(param("a"), "not in", ("x",))


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ("metrics.`my metric` > 1", metric("my metric")),
        ('metrics."my metric" > 1', metric("my metric")),
        ("params.`lr/decay:x` = '1'", param("lr/decay:x")),
        ("tags.`and` = 'x'", tag("and")),
        ("metrics.`val.loss` > 1", metric("val.loss")),
        ('metrics."val.loss" > 1', metric("val.loss")),
        ("metrics.val.loss > 1", metric("val.loss")),
        ("metrics.a.b.c > 1", metric("a.b.c")),
        ("metrics.layer.0.loss > 1", metric("layer.0.loss")),
        ("metrics.a.1 > 1", metric("a.1")),
        ("metrics.5 > 1", metric("5")),
        ("metrics.1st > 1", metric("1st")),
        ("metrics.val-loss > 1", metric("val-loss")),
        ("metrics.train/loss > 1", metric("train/loss")),
        ("metrics.a:b > 1", metric("a:b")),
    ],
)
def test_quoted_and_dotted_keys(text: str, field: Field) -> None:
    tree = parse_filter(text)
    assert isinstance(tree, Comparison)
    assert tree.field == field


@pytest.mark.parametrize(
    ("literal", "value"),
    [
        ("1", 1.0),
        ("-1", -1.0),
        ("+2", 2.0),
        ("0.25", 0.25),
        (".5", 0.5),
        ("5.", 5.0),
        ("-.5", -0.5),
        ("1e3", 1000.0),
        ("1E3", 1000.0),
        ("-1.5e-3", -0.0015),
        ("2.5E+2", 250.0),
        ("1700000000000", 1.7e12),
    ],
)
def test_numbers(literal: str, value: float) -> None:
    assert parse_filter(f"metrics.x = {literal}") == Comparison(metric("x"), "=", value)


@pytest.mark.parametrize(
    ("literal", "value"),
    [
        ("'it''s'", "it's"),
        ("'it\\'s'", "it's"),
        ('"say ""hi"""', 'say "hi"'),
        ('"say \\"hi\\""', 'say "hi"'),
        ('"it\'s"', "it's"),
        ("'say \"hi\"'", 'say "hi"'),
        ("'a\\\\b'", "a\\b"),
        ("''", ""),
        ("'  spaced  '", "  spaced  "),
        ("'and or not in'", "and or not in"),
        ("'100%'", "100%"),
    ],
)
def test_string_literals_and_escapes(literal: str, value: str) -> None:
    assert parse_filter(f"params.p = {literal}") == Comparison(param("p"), "=", value)


@pytest.mark.parametrize("text", [None, "", "   ", "\n\t"])
def test_no_filter(text: str | None) -> None:
    assert parse_filter(text) is None


# errors ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "position", "fragment"),
    [
        # unterminated quoted text points at the opening quote
        ("params.a = 'abc", 11, "unterminated"),
        ('params.a = "abc', 11, "unterminated"),
        ("metrics.`abc > 1", 8, "unterminated"),
        # missing operator: points at what came instead
        ("metrics.acc 0.5", 12, "operator"),
        ("metrics.acc", 11, "operator"),
        ("params.a 'x'", 9, "operator"),
        # unknown field
        ("bogus = 'x'", 0, "unknown field"),
        ("attributes.bogus = 'x'", 11, "unknown field"),
        ("metrics = 1", 0, "unknown field"),
        ("`acc` > 1", 0, "prefix"),
        # a string compared with a metric, a number with a param or tag
        ("metrics.acc > 'x'", 14, "number"),
        ("metrics.acc in (1, 'x')", 19, "number"),
        ("start_time > '2024'", 13, "number"),
        ("params.lr = 0.1", 12, "quote"),
        ("tags.t = 1", 9, "quote"),
        ("status = 1", 9, "quote"),
        # operators that do not apply
        ("params.lr > '1'", 10, "does not apply"),
        ("metrics.acc like 1", 12, "does not apply"),
        ("status < 'RUNNING'", 7, "does not apply"),
        # an unknown status
        ("status = 'DONE'", 9, "status must be one of"),
        # trailing garbage
        ("metrics.acc > 1 foo", 16, "expected 'and', 'or'"),
        ("metrics.acc > 1)", 15, "expected 'and', 'or'"),
        ("metrics.acc > 1 metrics.b > 2", 16, "expected 'and', 'or'"),
        ("metrics.acc > 1 & metrics.b > 2", 16, "unexpected character"),
        ("metrics.acc > 1 ; drop table runs", 16, "unexpected character"),
        # empty and unbalanced parentheses
        ("()", 1, "expected a field"),
        ("metrics.a > 1 and ()", 19, "expected a field"),
        ("(metrics.a > 1", 14, "expected ')'"),
        ("((metrics.a > 1)", 16, "expected ')'"),
        # 'not' must be followed by 'in'
        ("params.a not = 'x'", 13, "expected 'in' after 'not'"),
        ("params.a not like 'x'", 13, "expected 'in' after 'not'"),
        ("params.a not", 12, "expected 'in' after 'not'"),
        # malformed in-lists
        ("params.a in 'x'", 12, "expected '('"),
        ("params.a in ()", 13, "expected a value"),
        ("params.a in ('x', 'y'", 21, "expected ',' or ')'"),
        ("params.a in ('x' 'y')", 17, "expected ',' or ')'"),
        ("params.a in ('x',)", 17, "expected a value"),
        # dangling connectives and missing values
        ("metrics.a > 1 and", 17, "expected a field"),
        ("or metrics.a > 1", 0, "unknown field"),
        ("metrics.a >", 11, "expected a value"),
        ("metrics.a > >", 12, "expected a value"),
        # broken keys
        ("metrics. > 1", 9, "expected a key"),
        ("metrics.acc. > 1", 13, "rest of the key"),
        ("tags.`` = 'x'", 5, "empty key"),
        ("metrics.`a`.b > 1", 11, "operator"),
    ],
)
def test_error_positions(text: str, position: int, fragment: str) -> None:
    err = error_of(text)
    assert err.details["position"] == position, err.message
    assert fragment in err.message
    assert f"position {position}" in err.message
    assert "token" in err.details


def test_error_token_names_the_offending_text() -> None:
    err = error_of("metrics.acc > 1 garbage")
    assert err.details == {"position": 16, "token": "garbage"}
    assert error_of("metrics.acc >").details == {"position": 13, "token": ""}


def test_invalid_filter_is_an_invalid_argument() -> None:
    # callers that catch InvalidArgument also catch filter errors
    with pytest.raises(InvalidArgument):
        parse_filter("bogus")
    assert InvalidFilter("x").error_code == "INVALID_FILTER"
    assert InvalidFilter("x").http_status == 400


def test_overlong_filter_is_rejected() -> None:
    text = " or ".join(["metrics.a > 1"] * 800)
    assert len(text) > 10_000
    err = error_of(text)
    assert err.details["position"] == 10_000


def test_long_filter_within_the_limit_parses() -> None:
    text = " or ".join(f"metrics.a{i} > {i}" for i in range(300))
    assert len(text) < 10_000
    tree = parse_filter(text)
    assert isinstance(tree, BoolOp)
    assert len(tree.items) == 300


# order-by -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("clause", "order"),
    [
        ("metrics.acc DESC", OrderBy(metric("acc"), ascending=False)),
        ("metrics.acc desc", OrderBy(metric("acc"), ascending=False)),
        ("metrics.acc ASC", OrderBy(metric("acc"), ascending=True)),
        ("metrics.acc", OrderBy(metric("acc"), ascending=True)),
        ("metrics.val.loss Desc", OrderBy(metric("val.loss"), ascending=False)),
        ("metrics.`my metric` desc", OrderBy(metric("my metric"), ascending=False)),
        ("params.lr", OrderBy(param("lr"), ascending=True)),
        ("tags.team desc", OrderBy(tag("team"), ascending=False)),
        ("start_time", OrderBy(attr("start_time"), ascending=True)),
        ("attributes.start_time DESC", OrderBy(attr("start_time"), ascending=False)),
        ("end_time desc", OrderBy(attr("end_time"), ascending=False)),
        ("run_name", OrderBy(attr("name"), ascending=True)),
        ("Status", OrderBy(attr("status"), ascending=True)),
    ],
)
def test_order_by(clause: str, order: OrderBy) -> None:
    assert parse_order_by([clause]) == [order]


def test_order_by_several_clauses_and_a_bare_string() -> None:
    assert parse_order_by(["metrics.acc desc", "start_time"]) == [
        OrderBy(metric("acc"), ascending=False),
        OrderBy(attr("start_time"), ascending=True),
    ]
    assert parse_order_by("metrics.acc desc") == [  # type: ignore[arg-type]
        OrderBy(metric("acc"), ascending=False)
    ]
    assert parse_order_by(None) == []
    assert parse_order_by([]) == []


@pytest.mark.parametrize(
    ("clause", "position", "fragment"),
    [
        ("", 0, "empty order_by"),
        ("bogus", 0, "unknown field"),
        ("metrics.acc sideways", 12, "ASC, DESC"),
        ("metrics.acc desc extra", 17, "ASC, DESC"),
        ("metrics.acc, start_time", 11, "ASC, DESC"),
        ("metrics.", 8, "expected a key"),
        ("`acc` desc", 0, "prefix"),
        ("metrics.acc > 1", 12, "ASC, DESC"),
    ],
)
def test_order_by_errors(clause: str, position: int, fragment: str) -> None:
    with pytest.raises(InvalidFilter) as info:
        parse_order_by([clause])
    assert info.value.details["position"] == position, info.value.message
    assert fragment in info.value.message
