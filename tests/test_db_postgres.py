"""The PostgreSQL backend's own pieces that need no server: placeholder translation."""

from __future__ import annotations

import pytest

from bot.db.postgres import _args, _changed, translate


def test_question_marks_become_numbered_parameters() -> None:
    assert translate("SELECT a FROM t WHERE b = ? AND c > ?") == (
        "SELECT a FROM t WHERE b = $1 AND c > $2",
        None,
    )


def test_named_parameters_are_numbered_once_each_in_order() -> None:
    sql, names = translate("SELECT :guild, :now WHERE g = :guild")
    assert (sql, names) == ("SELECT $1, $2 WHERE g = $1", ("guild", "now"))
    assert _args(names, {"now": "x", "guild": 5, "unused": 1}) == [5, "x"]


def test_literals_quoted_names_and_casts_are_left_alone() -> None:
    sql = "SELECT 'a ? :b '' ?', \"odd:name?\", x::text FROM t WHERE y = ?"
    assert translate(sql)[0] == ("SELECT 'a ? :b '' ?', \"odd:name?\", x::text FROM t WHERE y = $1")


def test_sqlite_only_spellings_fail_loudly() -> None:
    with pytest.raises(ValueError, match="numbered"):
        translate("SELECT ?1")
    with pytest.raises(ValueError, match="mixes"):
        translate("SELECT ?, :a")


def test_booleans_go_as_integers_and_command_tags_count_rows() -> None:
    assert _args(None, (True, False, 3)) == [1, 0, 3]
    assert [_changed(t) for t in ("UPDATE 3", "INSERT 0 1", "DELETE 0", "CREATE TABLE")] == [
        3,
        1,
        0,
        0,
    ]
