"""The store port's own rules, function by function, with hand-written expected values.

These are the rules every adapter shares: the portability guard, the query engine of the embedded
adapter (``matches`` and its helpers), the order of a page (``sort_key``, ``total_order``,
``page_key``), the checks of a page's arguments, the seek runs and the MongoDB seek filter, and
``put``'s retry through the version guard. No store server: the SQLite adapter in a temporary
directory where a store is needed.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clustergrowth.store.port import (
    Doc,
    DuplicateKey,
    UnportableDocument,
    _cmp,
    _eq,
    _match_condition,
    _values,
    check_after,
    check_page,
    check_portable,
    matches,
    page_key,
    put,
    seek_filter,
    seek_segments,
    sort_key,
    total_order,
)
from clustergrowth.store.sqlite import SqliteStore

# check_portable ------------------------------------------------------------------------------------


def test_a_portable_document_passes_untouched() -> None:
    doc = {
        "_id": "x",
        "a$b": 1,  # a $ inside a key is fine, only a leading one is not
        "": "empty key",
        "tags": [1, "s", None, {"k": [2, 3], "m": {"n": 1}}],
        "meta": {"deep": {"deeper": {"v": [4]}}},
    }
    copy = {**doc}
    check_portable(doc)  # no exception
    assert doc == copy


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({"_id": "x", "a.b": 1}, "key 'a.b' is not portable"),
        ({"_id": "x", "$set": 1}, "key '$set' is not portable"),
        ({"_id": "x", 1: "int key"}, "key 1 is not portable"),
        ({"_id": "x", "m": {"n": {"p.q": 1}}}, "key 'p.q' is not portable"),  # nested dicts are walked
        ({"_id": "x", "l": [{"ok": 1}, {"$x": 1}]}, "key '$x' is not portable"),  # dicts inside arrays too
        ({"_id": "x", "l": [1, [2]]}, "nested arrays are not portable"),
        ({"_id": "x", "m": {"l": [[1]]}}, "nested arrays are not portable"),
        ({"_id": "x", "l": [{"l": [[1]]}]}, "nested arrays are not portable"),
    ],
)
def test_unportable_documents_are_refused_naming_the_problem(doc: Doc, message: str) -> None:
    with pytest.raises(UnportableDocument) as e:
        check_portable(doc)
    assert str(e.value) == message


def test_a_key_holding_the_separator_of_the_quick_check_is_judged_by_itself() -> None:
    # the check joins a dict's keys with "\x00" and looks again, key by key, where "\x00$" shows
    check_portable({"_id": "x", "a\x00$b": 1, "": {"\x00$": [1]}})  # no key starts with $: portable
    with pytest.raises(UnportableDocument, match="'\\$b'"):
        check_portable({"_id": "x", "a": 1, "$b": 2})  # a later key, not the first, starts with $
    with pytest.raises(UnportableDocument, match="key 2 is not portable"):
        check_portable({"_id": "x", "a": 1, 2: 2})


def _portable_by_hand(value: Any) -> bool:
    """The rule read straight from MongoDB's: recursion, one key and one element at a time."""
    if type(value) is dict:
        return all(type(k) is str and "." not in k and not k.startswith("$") for k in value) and all(
            _portable_by_hand(v) for v in value.values()
        )
    if type(value) is list:
        return all(type(v) is not list and _portable_by_hand(v) for v in value)
    return True


class _Key(str):
    """A subclass of str (an enum's member, say): not a key FerretDB is sure to store as a plain string."""


_keys = st.one_of(
    st.sampled_from(["a", "", ".", "a.b", "$", "$a", "a$", "\x00$", "x\x00", _Key("k")]), st.integers(0, 2)
)
_scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=3))
_docs = st.recursive(
    _scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_keys, inner, max_size=4), max_leaves=20
)


@given(st.dictionaries(_keys, _docs, max_size=5))
@settings(max_examples=400, deadline=None)
def test_check_portable_agrees_with_the_rule_by_hand(doc: Doc) -> None:
    try:
        check_portable(doc)
    except UnportableDocument:
        assert not _portable_by_hand(doc)
    else:
        assert _portable_by_hand(doc)


# _values -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("doc", "path", "expected"),
    [
        ({"a": 1}, [], [{"a": 1}]),  # the empty path is the value itself
        (5, [], [5]),
        ({"a": {"b": 1}}, ["a", "b"], [1]),
        ({"a": None}, ["a"], [None]),  # present and null: one value, None
        ({}, ["a"], []),  # missing: no value
        ({"a": 1}, ["a", "b"], []),  # through a scalar: no value
        ({"a": "str"}, ["a", "b"], []),
        ({"a": [1, 2]}, ["a"], [[1, 2], 1, 2]),  # an array at the end: itself and each element
        ({"a": []}, ["a"], [[]]),
        ({"a": [{"b": 1}, {"b": [2, 3]}, {"c": 4}, 5]}, ["a", "b"], [1, [2, 3], 2, 3]),  # fan out
        ([{"a": 1}, {"a": 2}, {"b": 3}], ["a"], [1, 2]),
        ({"a": {"b": {"c": "deep"}}}, ["a", "b", "c"], ["deep"]),
    ],
)
def test_values_at_a_path_fan_out_through_arrays(doc: Any, path: list[str], expected: list[Any]) -> None:
    assert _values(doc, path) == expected


# _cmp ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("op", "below", "equal", "above"),  # _cmp(op, a, 5) for a = 4, 5, 6
    [
        ("$gt", False, False, True),
        ("$gte", False, True, True),
        ("$lt", True, False, False),
        ("$lte", True, True, False),
    ],
)
def test_comparisons_at_and_either_side_of_the_boundary(op: str, below: bool, equal: bool, above: bool) -> None:
    assert [_cmp(op, 4, 5), _cmp(op, 5, 5), _cmp(op, 6, 5)] == [below, equal, above]
    assert [_cmp(op, "a", "b"), _cmp(op, "b", "b"), _cmp(op, "c", "b")] == [below, equal, above]
    assert [_cmp(op, 4.5, 5), _cmp(op, 5.0, 5), _cmp(op, 5.5, 5)] == [below, equal, above]  # int and float mix


@pytest.mark.parametrize("op", ["$gt", "$gte", "$lt", "$lte"])
def test_values_of_different_types_never_compare(op: str) -> None:
    assert _cmp(op, "a", 1) is False
    assert _cmp(op, 1, "a") is False
    assert _cmp(op, None, 1) is False


def test_an_unknown_comparison_is_refused() -> None:
    with pytest.raises(ValueError) as e:
        _cmp("$eq", 1, 1)
    assert str(e.value) == "unsupported operator $eq"


# _eq -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "arg", "expected"),
    [
        ([], None, True),  # missing matches null
        ([None], None, True),
        ([1, None], None, True),
        ([1], None, False),
        ([0], None, False),
        ([2], 2, True),
        ([1, 2], 2, True),  # any value
        ([1], 2, False),
        ([1, 3], 2, False),
        ([], 2, False),
    ],
)
def test_equality_any_value_and_null_matches_missing(values: list[Any], arg: Any, expected: bool) -> None:
    assert _eq(values, arg) is expected


# _match_condition ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "cond", "expected"),
    [
        # literal equality, including documents that are not operator documents
        ([5], 5, True),
        ([""], "", True),
        ([5], {}, False),  # an empty dict is a literal, not "no condition"
        ([{}], {}, True),
        ([{"a": 1}], {"a": 1}, True),
        ([{"a": 1}], {"a": 2}, False),
        ([{"$gt": 1, "a": 2}], {"$gt": 1, "a": 2}, True),  # not all keys are operators: a literal
        # $exists
        ([], {"$exists": True}, False),
        ([], {"$exists": False}, True),
        ([1], {"$exists": True}, True),
        ([None], {"$exists": True}, True),  # present and null exists
        ([1], {"$exists": False}, False),
        # $ne
        ([1], {"$ne": 1}, False),
        ([2], {"$ne": 1}, True),
        ([1, 2], {"$ne": 1}, False),
        ([], {"$ne": None}, False),
        ([], {"$ne": 1}, True),
        # $in / $nin
        ([2], {"$in": [1, 2]}, True),
        ([3], {"$in": [1, 2]}, False),
        ([], {"$in": [None, 2]}, True),
        ([1], {"$in": []}, False),
        ([2], {"$nin": [1, 2]}, False),
        ([3], {"$nin": [1, 2]}, True),
        ([1], {"$nin": []}, True),
        ([], {"$nin": [None]}, False),
        # ranges: any value in range
        ([1, 5], {"$gt": 3}, True),
        ([1], {"$gt": 3}, False),
        ([3], {"$gt": 3}, False),
        ([3], {"$gte": 3}, True),
        ([2], {"$gte": 3}, False),
        ([3], {"$lt": 3}, False),
        ([2], {"$lt": 3}, True),
        ([3], {"$lte": 3}, True),
        ([4], {"$lte": 3}, False),
        ([], {"$gt": 0}, False),
        # several operators: every one must hold
        ([3], {"$gte": 2, "$lte": 4}, True),
        ([5], {"$gte": 2, "$lte": 4}, False),  # the second fails
        ([1], {"$gte": 2, "$lte": 4}, False),  # the first fails
        ([3], {"$exists": True, "$ne": 3}, False),
        ([3], {"$ne": 4, "$in": [1, 2]}, False),
        ([3], {"$ne": 4, "$nin": [3]}, False),
        ([3], {"$ne": 4, "$exists": False}, False),
        ([3], {"$ne": 4, "$in": [3]}, True),
    ],
)
def test_conditions(values: list[Any], cond: Any, expected: bool) -> None:
    assert _match_condition(values, cond) is expected


def test_an_unknown_operator_in_a_condition_is_refused() -> None:
    with pytest.raises(ValueError) as e:
        _match_condition([1], {"$regex": "x"})
    assert str(e.value) == "unsupported operator $regex"


# matches -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("doc", "filter", "expected"),
    [
        ({"a": 1}, None, True),
        ({"a": 1}, {}, True),
        ({"a": 1}, {"a": 1}, True),
        ({"a": 1}, {"a": 2}, False),
        ({"a": 1, "b": 2}, {"a": 1, "b": 2}, True),
        ({"a": 1, "b": 3}, {"a": 1, "b": 2}, False),  # the second key fails
        ({"a": 3, "b": 2}, {"a": 1, "b": 2}, False),  # the first key fails
        ({"a": {"b": 1}}, {"a.b": 1}, True),  # dotted path
        ({"a": {"b": 2}}, {"a.b": 1}, False),
        ({"a": [{"b": 1}, {"b": 2}]}, {"a.b": 2}, True),
        ({"a": 1}, {"$or": [{"a": 1}, {"b": 2}]}, True),
        ({"b": 2}, {"$or": [{"a": 1}, {"b": 2}]}, True),
        ({"a": 2, "b": 1}, {"$or": [{"a": 1}, {"b": 2}]}, False),
        ({"a": 1}, {"$or": []}, False),
        ({"a": 1, "b": 2}, {"$and": [{"a": 1}, {"b": 2}]}, True),
        ({"a": 1, "b": 1}, {"$and": [{"a": 1}, {"b": 2}]}, False),
        ({"a": 2, "b": 2}, {"$and": [{"a": 1}, {"b": 2}]}, False),
        ({"a": 1}, {"$and": []}, True),
        ({"a": 1, "c": 2}, {"$or": [{"a": 1}], "c": 1}, False),  # the $or holds, the next key does not
        ({"a": 1, "c": 2}, {"$and": [{"a": 1}], "c": 1}, False),
        ({"a": 1, "c": 1}, {"$or": [{"a": 1}], "c": 1}, True),
    ],
)
def test_matches(doc: Doc, filter: Doc | None, expected: bool) -> None:
    assert matches(doc, filter) is expected


def test_an_unknown_top_level_operator_is_refused() -> None:
    with pytest.raises(ValueError) as e:
        matches({"a": 1}, {"$nor": [{"a": 1}]})
    assert str(e.value) == "unsupported operator $nor"


# sort_key ------------------------------------------------------------------------------------------


def test_sort_key_pairs_presence_with_the_value_per_field() -> None:
    key = sort_key([("a", 1), ("b.c", -1)])
    assert key({"a": 2, "b": {"c": "x"}}) == ((True, 2), (True, "x"))
    assert key({"b": {"c": "x"}}) == ((False, None), (True, "x"))  # missing
    assert key({"a": None, "b": {}}) == ((False, None), (False, None))  # null, and missing below a dict
    assert key({"a": [3, 1]}) == ((True, [3, 1]), (False, None))  # an array sorts as itself


def test_sort_key_puts_missing_and_null_first_then_values_in_order() -> None:
    docs: list[Doc] = [
        {"_id": "p", "n": 2},
        {"_id": "q"},
        {"_id": "r", "n": 1},
        {"_id": "s", "n": None},
        {"_id": "t", "n": 0},
    ]
    # by hand: q and s have nothing (stable: q before s), then 0, 1, 2
    assert [d["_id"] for d in sorted(docs, key=sort_key([("n", 1)]))] == ["q", "s", "t", "r", "p"]
    assert [d["_id"] for d in sorted(docs, key=sort_key([("n", 1)]), reverse=True)] == [
        "p",
        "r",
        "t",
        "q",
        "s",
    ]  # ties stay in order


# total_order ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sort", "expected"),
    [
        ([("n", 1)], [("n", 1), ("_id", 1)]),
        ([("n", -1)], [("n", -1), ("_id", 1)]),
        ([("a.b_c", 1), ("_Z9", -1)], [("a.b_c", 1), ("_Z9", -1), ("_id", 1)]),
        ([("n", 1), ("_id", -1)], [("n", 1), ("_id", -1)]),  # _id named: kept as named, not added
        ([("_id", -1), ("n", 1)], [("_id", -1)]),  # after _id nothing can decide: dropped
    ],
)
def test_total_order_ends_with_id(sort: list[tuple[str, int]], expected: list[tuple[str, int]]) -> None:
    assert total_order(sort) == expected


@pytest.mark.parametrize(
    ("sort", "message"),
    [
        ([], "a page needs at least one sort field"),
        ([(5, 1)], "bad sort field 5 (a dotted path of identifiers)"),
        ([("$n", 1)], "bad sort field '$n' (a dotted path of identifiers)"),
        ([("a..b", 1)], "bad sort field 'a..b' (a dotted path of identifiers)"),
        ([("1a", 1)], "bad sort field '1a' (a dotted path of identifiers)"),
        ([("a.", 1)], "bad sort field 'a.' (a dotted path of identifiers)"),
        ([("", 1)], "bad sort field '' (a dotted path of identifiers)"),
        ([("n\n", 1)], "bad sort field 'n\\n' (a dotted path of identifiers)"),  # not even at the end
        ([("n", 1), ("a-b", 1)], "bad sort field 'a-b' (a dotted path of identifiers)"),
        ([("n", 0)], "sort direction of 'n' must be 1 or -1, not 0"),
        ([("n", 2)], "sort direction of 'n' must be 1 or -1, not 2"),
        ([("n", -2)], "sort direction of 'n' must be 1 or -1, not -2"),
        ([("n", True)], "sort direction of 'n' must be 1 or -1, not True"),
        ([("n", "1")], "sort direction of 'n' must be 1 or -1, not '1'"),
        ([("n", 1), ("n", -1)], "sort field 'n' named twice"),
        ([("n", 1), ("m", 1), ("n", 1)], "sort field 'n' named twice"),
    ],
)
def test_total_order_refuses_bad_sorts(sort: list[Any], message: str) -> None:
    with pytest.raises(ValueError) as e:
        total_order(sort)
    assert str(e.value) == message


# page_key ------------------------------------------------------------------------------------------


def test_page_key_is_the_doc_s_values_in_the_total_order() -> None:
    doc = {"_id": "x", "a": {"b": 3}, "s": "v", "l": [2, 1]}
    assert page_key(doc, [("a.b", -1), ("c", 1)]) == [3, None, "x"]
    assert page_key(doc, [("s", 1), ("_id", -1)]) == ["v", "x"]
    assert page_key(doc, [("l", 1)]) == [[2, 1], "x"]
    with pytest.raises(ValueError):
        page_key(doc, [])  # checked like a page's sort


# check_after / check_page --------------------------------------------------------------------------

ORDER = [("n", 1), ("s", -1), ("_id", 1)]


@pytest.mark.parametrize(
    "after",
    [
        None,
        [1, "a", "x"],
        [1.5, None, "x"],  # null is fine except for _id
        [None, None, "x"],
        ["s", 0, "x"],
        [-(2**63), 2**63 - 1, "x"],  # the ends of a 64-bit integer
        [1, 2, 3],
    ],
)
def test_check_after_accepts_keys_of_the_order(after: list[Any] | None) -> None:
    check_after(after, ORDER)  # no exception


@pytest.mark.parametrize(
    ("after", "message"),
    [
        ((1, "a", "x"), "after must be a list of 3 values: ['n', 's', '_id']"),  # not a list, right length
        ([1, "x"], "after must be a list of 3 values: ['n', 's', '_id']"),
        ([1, "a", "x", "y"], "after must be a list of 3 values: ['n', 's', '_id']"),
        ([True, "a", "x"], "after: n must be a string, a number or null"),
        ([1, {"$gt": 1}, "x"], "after: s must be a string, a number or null"),
        ([1, "a", ["x"]], "after: _id must be a string, a number or null"),
        ([float("nan"), "a", "x"], "after: n is a number no store holds"),
        ([1, float("inf"), "x"], "after: s is a number no store holds"),
        ([float("-inf"), "a", "x"], "after: n is a number no store holds"),
        ([2**63, "a", "x"], "after: n is a number no store holds"),
        ([-(2**63) - 1, "a", "x"], "after: n is a number no store holds"),
        ([1, "a", None], "after: _id cannot be null"),
    ],
)
def test_check_after_refuses_what_cannot_be_a_page_key(after: Any, message: str) -> None:
    with pytest.raises(ValueError) as e:
        check_after(after, ORDER)
    assert str(e.value) == message


def test_check_page_returns_the_total_order_and_checks_the_key() -> None:
    assert check_page([("n", 1)], None, 1) == [("n", 1), ("_id", 1)]
    assert check_page([("n", -1)], [3, "x"], 500) == [("n", -1), ("_id", 1)]
    with pytest.raises(ValueError, match="after must be a list of 2 values"):
        check_page([("n", 1)], [3], 10)  # the key is checked against the total order
    with pytest.raises(ValueError, match="at least one sort field"):
        check_page([], None, 10)


@pytest.mark.parametrize(
    ("limit", "message"),
    [
        (0, "limit must be a positive integer, not 0"),
        (-1, "limit must be a positive integer, not -1"),
        (True, "limit must be a positive integer, not True"),
        (1.0, "limit must be a positive integer, not 1.0"),
        ("5", "limit must be a positive integer, not '5'"),
    ],
)
def test_check_page_refuses_a_limit_below_one_or_not_an_integer(limit: Any, message: str) -> None:
    with pytest.raises(ValueError) as e:
        check_page([("n", 1)], None, limit)
    assert str(e.value) == message


# seek_segments and seek_filter ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("order", "after", "runs"),
    [
        (
            [("n", 1), ("_id", 1)],
            [2, "b"],
            [[("n", "eq", 2), ("_id", "gt", "b")], [("n", "gt", 2)]],
        ),
        (  # ascending from null: the same null and a greater _id, then every value
            [("g", 1), ("_id", 1)],
            [None, "b"],
            [[("g", "eq", None), ("_id", "gt", "b")], [("g", "notnull", None)]],
        ),
        (  # descending: the same value, then smaller ones, then the missing ones (nulls sort last)
            [("n", -1), ("_id", 1)],
            [2, "b"],
            [[("n", "eq", 2), ("_id", "gt", "b")], [("n", "lt", 2)], [("n", "null", None)]],
        ),
        (  # descending from null: nothing sorts after the nulls but a greater _id among them
            [("g", -1), ("_id", 1)],
            [None, "b"],
            [[("g", "eq", None), ("_id", "gt", "b")]],
        ),
        (
            [("_id", -1)],
            ["b"],
            [[("_id", "lt", "b")], [("_id", "null", None)]],
        ),
        (
            [("a", 1), ("b", -1), ("_id", 1)],
            ["x", 3, "k"],
            [
                [("a", "eq", "x"), ("b", "eq", 3), ("_id", "gt", "k")],
                [("a", "eq", "x"), ("b", "lt", 3)],
                [("a", "eq", "x"), ("b", "null", None)],
                [("a", "gt", "x")],
            ],
        ),
    ],
)
def test_seek_segments_are_the_runs_after_the_key_first_run_first(
    order: list[tuple[str, int]], after: list[Any], runs: list[list[tuple[str, str, Any]]]
) -> None:
    assert seek_segments(order, after) == runs


@pytest.mark.parametrize(
    ("order", "after", "expected"),
    [
        (
            [("n", 1), ("_id", 1)],
            [2, "b"],
            {"$or": [{"n": 2, "_id": {"$gt": "b"}}, {"n": {"$gt": 2}}]},
        ),
        (
            [("g", 1), ("_id", 1)],
            [None, "b"],
            {"$or": [{"g": None, "_id": {"$gt": "b"}}, {"g": {"$ne": None}}]},
        ),
        (
            [("n", -1), ("_id", 1)],
            [2, "b"],
            {"$or": [{"n": 2, "_id": {"$gt": "b"}}, {"n": {"$lt": 2}}, {"n": None}]},
        ),
        (
            [("g", -1), ("_id", 1)],
            [None, "b"],
            {"$or": [{"g": None, "_id": {"$gt": "b"}}]},
        ),
        (
            [("a.b", 1), ("c", -1), ("_id", -1)],
            ["x", 3, "k"],
            {
                "$or": [
                    {"a.b": "x", "c": 3, "_id": {"$lt": "k"}},
                    {"a.b": "x", "c": 3, "_id": None},
                    {"a.b": "x", "c": {"$lt": 3}},
                    {"a.b": "x", "c": None},
                    {"a.b": {"$gt": "x"}},
                ]
            },
        ),
    ],
)
def test_seek_filter_written_out(order: list[tuple[str, int]], after: list[Any], expected: Doc) -> None:
    assert seek_filter(order, after) == expected


def test_seek_filter_of_an_empty_order_is_none() -> None:
    assert seek_filter([], []) is None


def _field(doc: Doc, path: str) -> Any:
    value: Any = doc
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def _mongo_select(filter: Doc, doc: Doc) -> bool:
    """MongoDB's reading of the filters seek_filter writes ({"$or": [clause]}, each clause a conjunction
    of value, None, {"$gt"}, {"$lt"}, {"$ne": None}), written here by hand for scalar fields."""

    def holds(value: Any, cond: Any) -> bool:
        if cond is None:
            return value is None
        if isinstance(cond, dict):
            [(op, arg)] = cond.items()
            if op == "$ne":
                assert arg is None
                return value is not None
            if value is None or isinstance(value, str) != isinstance(arg, str):
                return False  # MongoDB compares within a type bracket only
            return bool(value > arg) if op == "$gt" else bool(value < arg)
        return value is not None and value == cond

    return any(all(holds(_field(doc, f), c) for f, c in clause.items()) for clause in filter["$or"])


def _after(doc: Doc, key: list[Any], order: list[tuple[str, int]]) -> bool:
    """Whether ``doc`` comes strictly after ``key`` in ``order``: field by field, nothing before any value
    ascending (after any value descending)."""
    for (field, direction), k in zip(order, key, strict=True):
        v = _field(doc, field)
        if v == k or (v is None and k is None):
            continue
        if v is None:
            smaller = True
        elif k is None:
            smaller = False
        else:
            smaller = v < k
        return smaller if direction < 0 else not smaller
    return False  # the same key: not after it


def _sort_value(field: str, doc: Doc) -> tuple[int, Any]:
    v = _field(doc, field)
    return (0, 0) if v is None else (1, v)


def _docs() -> list[Doc]:
    """Ties, missing fields and nulls, ints and floats, a nested field."""
    ns: list[Any] = [1, 2, 2, None, 0.5, 2, 3, "missing", 1]
    gs: list[Any] = ["b", "a", None, "b", "missing", "c", "a", "b", "missing"]
    docs = []
    for i, (n, g) in enumerate(zip(ns, gs, strict=True)):
        d: Doc = {"_id": f"d{i}", "m": {"r": i % 3}}
        if n != "missing":
            d["n"] = n
        if g != "missing":
            d["g"] = g
        docs.append(d)
    return docs


ORDERS = [
    [("n", 1), ("_id", 1)],
    [("n", -1), ("_id", 1)],
    [("g", 1), ("n", -1), ("_id", 1)],
    [("g", -1), ("n", 1), ("_id", 1)],
    [("n", -1), ("_id", -1)],
    [("m.r", 1), ("g", -1), ("_id", -1)],
]


@pytest.mark.parametrize("order", ORDERS, ids=lambda o: ",".join(f"{f}{d:+d}" for f, d in o))
def test_seek_filter_selects_exactly_the_documents_after_the_key(order: list[tuple[str, int]]) -> None:
    docs = _docs()
    keys = [[_field(d, f) for f, _ in order] for d in docs]  # every stored key
    between, beyond = {"n": 1.5, "g": "ab", "m.r": 0.5}, {"n": 9, "g": "z", "m.r": 9}  # values no doc holds
    keys += [[between[order[0][0]], *k[1:]] for k in keys]
    keys += [[None] * (len(order) - 1) + ["d4"], [beyond[f] for f, _ in order[:-1]] + ["a"]]
    for key in keys:
        expected = sorted(d["_id"] for d in docs if _after(d, key, order))
        filter = seek_filter(order, key)
        assert filter is not None
        assert sorted(d["_id"] for d in docs if _mongo_select(filter, d)) == expected, (order, key)


def test_the_oracle_of_the_seek_filter_test_walks_the_whole_order() -> None:
    """The hand-written `_after` must itself order the documents: each key has exactly as many
    documents after it as follow it in a sort done another way (stable sorts, last field first)."""
    docs = _docs()
    for order in ORDERS:
        ranked = list(docs)
        for field, direction in reversed(order):  # stable sorts (reverse keeps ties in order), last field first
            ranked.sort(key=functools.partial(_sort_value, field), reverse=direction < 0)
        for i, d in enumerate(ranked):
            key = [_field(d, f) for f, _ in order]
            assert sorted(x["_id"] for x in ranked[i + 1 :]) == sorted(x["_id"] for x in docs if _after(x, key, order))


# put -----------------------------------------------------------------------------------------------


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    s = SqliteStore(tmp_path / "port.sqlite")
    yield s
    await s.close()


class Racing:
    """The store, with another writer that gets in between ``put``'s read and its write: it inserts the
    document first (``insert_first``) or changes it before each of the first ``replace_losses`` replaces."""

    def __init__(self, store: SqliteStore, *, insert_first: bool = False, replace_losses: int = 0) -> None:
        self.store, self.insert_first, self.replace_losses = store, insert_first, replace_losses
        self.calls: list[str] = []

    async def get(self, collection: str, id: str) -> Doc | None:
        self.calls.append("get")
        return await self.store.get(collection, id)

    async def insert(self, collection: str, doc: Doc) -> None:
        self.calls.append("insert")
        if self.insert_first:
            self.insert_first = False
            await self.store.insert(collection, {"_id": doc["_id"], "by": "other"})
        await self.store.insert(collection, doc)

    async def replace(self, collection: str, doc: Doc, expected_version: int) -> bool:
        self.calls.append("replace")
        if self.replace_losses:
            self.replace_losses -= 1
            current = await self.store.get(collection, doc["_id"])
            assert current is not None
            assert await self.store.replace(collection, {**current, "by": "other"}, current["version"])
        return await self.store.replace(collection, doc, expected_version)


async def test_put_inserts_a_new_document(store: SqliteStore) -> None:
    await put(store, "things", {"_id": "a", "n": 1})
    assert await store.get("things", "a") == {"_id": "a", "n": 1, "version": 1}


async def test_put_overwrites_through_the_version_guard(store: SqliteStore) -> None:
    await store.insert("things", {"_id": "a", "n": 1, "old": True})
    racing = Racing(store)
    await put(racing, "things", {"_id": "a", "n": 2})  # type: ignore[arg-type]
    assert await store.get("things", "a") == {"_id": "a", "n": 2, "version": 2}
    assert racing.calls == ["get", "replace"]


async def test_put_after_a_concurrent_first_insert_reads_again_and_overwrites(store: SqliteStore) -> None:
    racing = Racing(store, insert_first=True)
    await put(racing, "things", {"_id": "a", "n": 1})  # type: ignore[arg-type]
    assert await store.get("things", "a") == {"_id": "a", "n": 1, "version": 2}
    assert racing.calls == ["get", "insert", "get", "replace"]


@pytest.mark.parametrize("attempts", [1, 3])
async def test_put_retries_lost_races_until_its_last_attempt(store: SqliteStore, attempts: int) -> None:
    await store.insert("things", {"_id": "a", "n": 0})
    racing = Racing(store, replace_losses=attempts - 1)  # wins on its last attempt
    await put(racing, "things", {"_id": "a", "n": 9}, attempts=attempts)  # type: ignore[arg-type]
    doc = await store.get("things", "a")
    assert doc is not None and (doc["n"], doc["version"]) == (9, 1 + attempts)
    assert racing.calls == ["get", "replace"] * attempts


@pytest.mark.parametrize("attempts", [1, 3])
async def test_put_gives_up_after_its_attempts(store: SqliteStore, attempts: int) -> None:
    await store.insert("things", {"_id": "a", "n": 0})
    racing = Racing(store, replace_losses=attempts)  # loses every attempt
    with pytest.raises(DuplicateKey) as e:
        await put(racing, "things", {"_id": "a", "n": 9}, attempts=attempts)  # type: ignore[arg-type]
    assert str(e.value) == f"things/a kept changing; gave up after {attempts} attempts"
    assert racing.calls == ["get", "replace"] * attempts
    doc = await store.get("things", "a")
    assert doc is not None and doc["by"] == "other" and "n" in doc and doc["n"] == 0


async def test_put_makes_twenty_attempts_by_default(store: SqliteStore) -> None:
    await store.insert("things", {"_id": "a"})
    await put(Racing(store, replace_losses=19), "things", {"_id": "a", "n": 1})  # type: ignore[arg-type]
    await store.insert("things", {"_id": "b"})
    with pytest.raises(DuplicateKey, match="gave up after 20 attempts"):
        await put(Racing(store, replace_losses=20), "things", {"_id": "b", "n": 1})  # type: ignore[arg-type]
