"""The PostgreSQL migrations build the same schema as the SQLite ones, version by version.

For every version N, Haven's own runner applies migrations 1..N to a fresh SQLite file and,
each in its own transaction on top of the previous, to a fresh database on a throwaway
PostgreSQL cluster (tests/pgcluster.py). The two catalogues are then read back and
compared: tables; per table the columns in order with nullability, kind of type (integer, text,
real) and default; primary keys, UNIQUE constraints, indexes (name, columns, uniqueness, partial
WHERE), foreign keys (columns, target, ON DELETE/UPDATE) and the number of CHECK constraints.
Ids SQLite hands out itself (rowid `id` columns) must be identity columns, and every PostgreSQL
text column must compare bytewise (COLLATE "C") as SQLite does. Finally the CHECK and foreign
key constraints are probed on both: rows one backend accepts the other accepts, rows one
rejects the other rejects for the same reason.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from bot.db.database import open_database
from bot.db.migrate import MIGRATIONS_ROOT, Migration, load_migrations, migrate
from tests.pgcluster import PgCluster, pg_cluster

SQLITE = load_migrations(MIGRATIONS_ROOT / "sqlite")
POSTGRES = load_migrations(MIGRATIONS_ROOT / "postgresql")
VERSIONS = [m.version for m in SQLITE]


@pytest.fixture(scope="module")
def cluster() -> Iterator[PgCluster]:
    with pg_cluster() as running:
        yield running


async def _pg_database(cluster: PgCluster, name: str, upto: int) -> asyncpg.Connection:
    """A fresh database brought to version `upto` by Haven's runner, which applies each
    migration in its own transaction on top of the previous one."""
    await cluster.adrop_database(name)
    url = await cluster.acreate_database(name)
    db = await open_database(url)
    try:
        assert await migrate(db, POSTGRES[:upto]) == upto
        assert await db.schema_version() == upto
    finally:
        await db.close()
    return await asyncpg.connect(url)


async def _sqlite_database(path: Path, migrations: list[Migration]) -> sqlite3.Connection:
    db = await open_database(f"sqlite:///{path}")
    try:
        await migrate(db, migrations)
    finally:
        await db.close()
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA foreign_keys = ON")
    return conn


# --- reading the catalogues -------------------------------------------------------------

Schema = dict[str, dict[str, Any]]


def _sqlite_kind(declared: str) -> str:
    # SQLite's affinity rules (https://sqlite.org/datatype3.html, 3.1).
    t = declared.upper()
    if "INT" in t:
        return "integer"
    if any(s in t for s in ("CHAR", "CLOB", "TEXT")):
        return "text"
    if any(s in t for s in ("REAL", "FLOA", "DOUB")):
        return "real"
    return "blob" if not t else "numeric"


_PG_KINDS = {
    "bigint": "integer",
    "integer": "integer",
    "smallint": "integer",
    "text": "text",
    "character varying": "text",
    "double precision": "real",
    "real": "real",
    "numeric": "numeric",
    "bytea": "blob",
}


def _default(expr: str | None) -> str | None:
    """'pending'::text and 'pending' are the same default."""
    if expr is None:
        return None
    return re.sub(r"::(text|bigint|integer)$", "", expr.strip())


def _predicate(expr: str | None) -> str | None:
    if expr is None:
        return None
    return re.sub(r"[\s()]|::text", "", expr).lower()


def _checks(create_sql: str) -> int:
    without_comments = re.sub(r"--[^\n]*", "", create_sql)
    return len(re.findall(r"\bCHECK\s*\(", without_comments))


_SQLITE_ACTIONS = {"NO ACTION", "CASCADE", "SET NULL", "SET DEFAULT", "RESTRICT"}
_PG_ACTIONS = {
    "a": "NO ACTION",
    "c": "CASCADE",
    "n": "SET NULL",
    "d": "SET DEFAULT",
    "r": "RESTRICT",
}


def sqlite_schema(conn: sqlite3.Connection) -> Schema:
    schema: Schema = {}
    tables = conn.execute(
        "SELECT name, sql FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
    ).fetchall()
    index_sql = dict(conn.execute("SELECT name, sql FROM sqlite_master WHERE type = 'index'"))
    for table, create_sql in tables:
        without_rowid = bool(
            conn.execute("SELECT wr FROM pragma_table_list WHERE name = ?", (table,)).fetchone()[0]
        )
        info = conn.execute(f"PRAGMA table_info({table})").fetchall()
        pk = tuple(row[1] for row in sorted((r for r in info if r[5]), key=lambda r: r[5]))
        rowid_alias = (
            pk[0]
            if not without_rowid
            and len(pk) == 1
            and next(r[2] for r in info if r[1] == pk[0]).upper() == "INTEGER"
            else None
        )
        columns = []
        for _cid, name, declared, notnull, default, in_pk in info:
            # A PRIMARY KEY column is NOT NULL in a WITHOUT ROWID table and as the rowid; in a
            # rowid table SQLite would otherwise allow NULL in it (a legacy quirk).
            effective_notnull = bool(notnull) or (
                bool(in_pk) and (without_rowid or rowid_alias is not None)
            )
            columns.append((name, _sqlite_kind(declared), effective_notnull, _default(default)))
        uniques: set[tuple[str, ...]] = set()
        indexes: dict[str, tuple[tuple[str, ...], bool, str | None]] = {}
        for _seq, index, unique, origin, partial in conn.execute(f"PRAGMA index_list({table})"):
            cols = tuple(r[2] for r in conn.execute(f"PRAGMA index_info({index})"))
            if origin == "u":
                uniques.add(cols)
            elif origin == "c":
                where = None
                if partial:
                    where = index_sql[index].split(" WHERE ", 1)[1]
                indexes[index] = (cols, bool(unique), _predicate(where))
        fks: dict[int, list[Any]] = {}
        for fk_id, _seq, target, src, dst, on_update, on_delete, _match in conn.execute(
            f"PRAGMA foreign_key_list({table})"
        ):
            assert on_delete in _SQLITE_ACTIONS and on_update in _SQLITE_ACTIONS
            entry = fks.setdefault(fk_id, [[], target, [], on_delete, on_update])
            entry[0].append(src)
            entry[2].append(dst)
        schema[table] = {
            "columns": columns,
            "primary_key": pk,
            "identity": (rowid_alias,) if rowid_alias == "id" else (),
            "uniques": uniques,
            "indexes": indexes,
            "foreign_keys": {(tuple(f[0]), f[1], tuple(f[2]), f[3], f[4]) for f in fks.values()},
            "checks": _checks(create_sql),
        }
    return schema


async def pg_schema(conn: asyncpg.Connection) -> tuple[Schema, list[str]]:
    """The schema, and the text columns that do not collate as "C"."""
    schema: Schema = {}
    not_c: list[str] = []
    tables = await conn.fetch(
        "SELECT c.oid, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE n.nspname = 'public' AND c.relkind = 'r' AND c.relname <> 'schema_version'"
    )
    for oid, table in tables:
        attrs = await conn.fetch(
            "SELECT a.attnum, a.attname, format_type(a.atttypid, NULL) AS type, a.attnotnull,"
            " pg_get_expr(d.adbin, d.adrelid) AS dflt, a.attidentity::text, co.collname"
            " FROM pg_attribute a"
            " LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum"
            " LEFT JOIN pg_collation co ON co.oid = a.attcollation"
            " WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
            oid,
        )
        names = {a["attnum"]: a["attname"] for a in attrs}
        columns = []
        for a in attrs:
            columns.append(
                (
                    a["attname"],
                    _PG_KINDS.get(a["type"], a["type"]),
                    a["attnotnull"],
                    _default(a["dflt"]),
                )
            )
            if a["type"] == "text" and a["collname"] != "C":
                not_c.append(f"{table}.{a['attname']} ({a['collname']})")
        constraints = await conn.fetch(
            "SELECT contype::text, conkey, confrelid::regclass::text AS target, confkey,"
            " confdeltype::text, confupdtype::text, conindid"
            " FROM pg_constraint WHERE conrelid = $1",
            oid,
        )
        pk: tuple[str, ...] = ()
        uniques: set[tuple[str, ...]] = set()
        fks: set[tuple[Any, ...]] = set()
        for c in constraints:
            cols = tuple(names[k] for k in c["conkey"])
            if c["contype"] == "p":
                pk = cols
            elif c["contype"] == "u":
                uniques.add(cols)
            elif c["contype"] == "f":
                target_names = dict(
                    await conn.fetch(
                        "SELECT attnum, attname FROM pg_attribute WHERE attrelid = $1::regclass",
                        c["target"],
                    )
                )
                fks.add(
                    (
                        cols,
                        c["target"],
                        tuple(target_names[k] for k in c["confkey"]),
                        _PG_ACTIONS[c["confdeltype"]],
                        _PG_ACTIONS[c["confupdtype"]],
                    )
                )
        backing = {c["conindid"] for c in constraints if c["contype"] in ("p", "u")}
        indexes = {}
        for ix in await conn.fetch(
            "SELECT i.indexrelid, x.relname, i.indisunique, i.indkey::int2[] AS keys,"
            " pg_get_expr(i.indpred, i.indrelid) AS pred"
            " FROM pg_index i JOIN pg_class x ON x.oid = i.indexrelid WHERE i.indrelid = $1",
            oid,
        ):
            if ix["indexrelid"] in backing:
                continue
            cols = tuple(names[k] for k in ix["keys"])
            indexes[ix["relname"]] = (cols, ix["indisunique"], _predicate(ix["pred"]))
        checks = sum(1 for c in constraints if c["contype"] == "c")
        schema[table] = {
            "columns": columns,
            "primary_key": pk,
            "identity": tuple(a["attname"] for a in attrs if a["attidentity"]),
            "uniques": uniques,
            "indexes": indexes,
            "foreign_keys": fks,
            "checks": checks,
        }
    return schema, not_c


# --- the parity tests ------------------------------------------------------------------


def test_the_same_migrations_exist_for_both_backends() -> None:
    assert [m.name for m in POSTGRES] == [m.name for m in SQLITE]
    for migration in POSTGRES:
        # The runner wraps each file in its own transaction.
        assert not re.search(r"^\s*(BEGIN|COMMIT|ROLLBACK)\b", migration.sql, re.I | re.M), (
            migration.name
        )
        assert "schema_version" not in migration.sql, migration.name


@pytest.mark.parametrize("version", VERSIONS)
async def test_postgresql_schema_matches_sqlite(
    cluster: PgCluster, tmp_path: Path, version: int
) -> None:
    lite = await _sqlite_database(tmp_path / "haven.db", SQLITE[:version])
    try:
        expected = sqlite_schema(lite)
    finally:
        lite.close()
    conn = await _pg_database(cluster, f"schema_v{version}", version)
    try:
        actual, not_c = await pg_schema(conn)
    finally:
        await conn.close()
    await cluster.adrop_database(f"schema_v{version}")

    assert sorted(actual) == sorted(expected), "the same tables"
    for table in sorted(expected):
        for aspect in expected[table]:
            assert actual[table][aspect] == expected[table][aspect], f"{table}: {aspect}"
    assert not_c == [], 'every text column is COLLATE "C"'


# --- constraints behave alike -------------------------------------------------------------

T = "2026-03-01T10:00:00Z"
T_EARLIER = "2026-03-01T09:00:00Z"
G, U = 900000000000000001, 800000000000000001  # Discord ids need 64 bits

# Rows both backends must accept, inserted once as parents of the probes below; each gets id 1.
PARENTS: list[tuple[str, dict[str, Any]]] = [
    (
        "circles",
        {
            "guild_id": G,
            "name": "Tuesday",
            "weekday": 1,
            "at_time": "19:00",
            "timezone": "UTC",
            "every_weeks": 1,
            "anchor": "2026-03-02",
            "duration_min": 60,
            "capacity": 8,
            "created_at": T,
            "updated_at": T,
        },
    ),
    (
        "circle_sessions",
        {
            "circle_id": 1,
            "guild_id": G,
            "local_date": "2026-03-03",
            "starts_at": T_EARLIER,
            "ends_at": T,
        },
    ),
    ("buddy_pairs", {"guild_id": G, "started_at": T}),
]

# A valid row per table, then changes that make it break one constraint (and which kind).
PROBES: list[tuple[str, dict[str, Any], list[tuple[dict[str, Any], str]]]] = [
    (
        "guild_config",
        {"guild_id": G, "retention_days": 7, "updated_at": T},
        [
            ({"retention_days": 6}, "check"),
            ({"retention_days": 3651}, "check"),
            ({"retention_days": 3650}, "ok"),
        ],
    ),
    (
        "member_profile",
        {"guild_id": G, "user_id": U, "updated_at": T},
        [
            ({"quiet_start": "22:00"}, "check"),
            ({"quiet_end": "07:00"}, "check"),
            ({"quiet_start": "22:00", "quiet_end": "07:00"}, "ok"),
        ],
    ),
    (
        "outbox",
        {"key": "k", "kind": "x", "due_at": T, "deadline_at": T},
        [
            ({"state": "waiting"}, "check"),
            ({"deadline_at": T_EARLIER}, "check"),
            ({"state": "cancelled"}, "ok"),
            ({"kind": None}, "not_null"),
        ],
    ),
    (
        "deliveries",
        {"key": "k", "state": "sending", "updated_at": T},
        [
            ({"state": "queued"}, "check"),
            ({"state": "dm_closed"}, "ok"),
        ],
    ),
    (
        "checkins",
        {"guild_id": G, "user_id": U, "created_at": T, "feeling": "settled", "share": "private"},
        [
            ({"feeling": "meh"}, "check"),
            ({"capacity": 0}, "check"),
            ({"capacity": 6}, "check"),
            ({"capacity": 5}, "ok"),
            ({"note": ""}, "check"),
            ({"note": "é" * 1000}, "ok"),
            ({"note": "é" * 1001}, "check"),
            ({"share": "public"}, "check"),
            ({"reach_out": 2}, "check"),
            ({"reach_out": 1}, "ok"),
        ],
    ),
    (
        "checkin_prompt",
        {"guild_id": G, "at_time": "09:00", "days": "weekdays", "updated_at": T},
        [({"days": "sometimes"}, "check")],
    ),
    (
        "checkin_reminders",
        {"guild_id": G, "user_id": U, "at_time": "09:00", "days": "every-day", "updated_at": T},
        [
            ({"days": "weekly"}, "check"),
        ],
    ),
    (
        "checkin_noticing",
        {"guild_id": G, "user_id": U, "quiet_days": 2, "updated_at": T},
        [
            ({"quiet_days": 1}, "check"),
            ({"quiet_days": 15}, "check"),
            ({"quiet_days": 14}, "ok"),
        ],
    ),
    (
        "circles",
        {
            "guild_id": G,
            "name": "n",
            "weekday": 0,
            "at_time": "19:00",
            "timezone": "UTC",
            "every_weeks": 2,
            "anchor": "2026-03-02",
            "duration_min": 15,
            "capacity": 2,
            "created_at": T,
            "updated_at": T,
        },
        [
            ({"weekday": 7}, "check"),
            ({"every_weeks": 3}, "check"),
            ({"every_weeks": 4}, "ok"),
            ({"duration_min": 14}, "check"),
            ({"duration_min": 241}, "check"),
            ({"capacity": 51}, "check"),
            ({"capacity": 1}, "check"),
        ],
    ),
    (
        "circle_sessions",
        {
            "circle_id": 1,
            "guild_id": G,
            "local_date": "2026-03-10",
            "starts_at": T_EARLIER,
            "ends_at": T,
        },
        [
            ({"state": "done"}, "check"),
            ({"ends_at": T_EARLIER}, "check"),
            ({"local_date": "2026-03-03"}, "unique"),
            ({"circle_id": 2}, "foreign_key"),
        ],
    ),
    (
        "circle_members",
        {"circle_id": 1, "guild_id": G, "user_id": U, "mode": "share", "joined_at": T},
        [
            ({"mode": "speak"}, "check"),
            ({"circle_id": 2}, "foreign_key"),
        ],
    ),
    (
        "circle_rsvps",
        {
            "session_id": 1,
            "guild_id": G,
            "user_id": U,
            "mode": "listen",
            "status": "going",
            "created_at": T,
        },
        [
            ({"status": "maybe"}, "check"),
            ({"mode": "x"}, "check"),
            ({"session_id": 2}, "foreign_key"),
        ],
    ),
    (
        "circle_talking",
        {"session_id": 1, "guild_id": G, "user_id": U, "state": "holding", "queued_at": T},
        [({"state": "speaking"}, "check")],
    ),
    ("buddy_members", {"pair_id": 1, "user_id": U}, [({"pair_id": 2}, "foreign_key")]),
    (
        "buddy_profiles",
        {"guild_id": G, "user_id": U, "joined_at": T, "updated_at": T},
        [
            ({"style": "video"}, "check"),
            ({"style": "voice"}, "ok"),
        ],
    ),
    (
        "buddy_separations",
        {"guild_id": G, "first": "0a", "second": "a0", "created_at": T},
        [
            ({"first": "a0", "second": "0a"}, "check"),
            ({"second": "0a"}, "check"),
            # Byte order, as Python compares the hashes: "B" < "a" (a locale would say otherwise).
            ({"first": "B", "second": "a"}, "ok"),
            ({"first": "a", "second": "B"}, "check"),
        ],
    ),
    (
        "buddy_cadence",
        {
            "guild_id": G,
            "every_weeks": 1,
            "weekday": 6,
            "at_time": "10:00",
            "anchor": "2026-03-02",
            "updated_at": T,
        },
        [
            ({"every_weeks": 9}, "check"),
            ({"every_weeks": 0}, "check"),
            ({"weekday": -1}, "check"),
        ],
    ),
    (
        "buddy_checkbacks",
        {"pair_id": 1, "guild_id": G, "user_id": U, "round": "r", "asked_at": T},
        [
            ({"answer": "maybe"}, "check"),
            ({"answer": "not-a-fit"}, "ok"),
            ({"pair_id": 2}, "foreign_key"),
        ],
    ),
]


def _insert(table: str, row: dict[str, Any], style: str) -> tuple[str, list[Any]]:
    cols = ", ".join(row)
    marks = ", ".join("?" if style == "?" else f"${i}" for i in range(1, len(row) + 1))
    return f"INSERT INTO {table} ({cols}) VALUES ({marks})", list(row.values())


def _sqlite_outcome(conn: sqlite3.Connection, table: str, row: dict[str, Any]) -> str:
    sql, values = _insert(table, row, "?")
    conn.execute("BEGIN")
    try:
        conn.execute(sql, values)
    except sqlite3.IntegrityError as exc:
        message = str(exc)
        for prefix, kind in (
            ("CHECK constraint failed", "check"),
            ("FOREIGN KEY constraint failed", "foreign_key"),
            ("UNIQUE constraint failed", "unique"),
            ("NOT NULL constraint failed", "not_null"),
        ):
            if message.startswith(prefix):
                return kind
        return message
    finally:
        conn.execute("ROLLBACK")
    return "ok"


class _Rollback(Exception):
    pass


async def _pg_outcome(conn: asyncpg.Connection, table: str, row: dict[str, Any]) -> str:
    sql, values = _insert(table, row, "$")
    try:
        async with conn.transaction():
            await conn.execute(sql, *values)
            raise _Rollback
    except _Rollback:
        return "ok"
    except asyncpg.CheckViolationError:
        return "check"
    except asyncpg.ForeignKeyViolationError:
        return "foreign_key"
    except asyncpg.UniqueViolationError:
        return "unique"
    except asyncpg.NotNullViolationError:
        return "not_null"


@pytest.fixture
async def both(cluster: PgCluster, tmp_path: Path) -> AsyncIterator[Any]:
    lite = await _sqlite_database(tmp_path / "haven.db", SQLITE)
    pg = await _pg_database(cluster, "constraints", len(POSTGRES))
    for table, row in PARENTS:
        lite.execute(*_insert(table, row, "?"))
        sql, values = _insert(table, row, "$")
        await pg.execute(sql, *values)
    try:
        yield lite, pg
    finally:
        lite.close()
        await pg.close()
        await cluster.adrop_database("constraints")


async def test_constraints_accept_and_reject_the_same_rows(both: Any) -> None:
    lite, pg = both
    differences = []
    for table, base, changes in PROBES:
        for change, expected in [({}, "ok"), *changes]:
            row = {**base, **change}
            outcomes = (_sqlite_outcome(lite, table, row), await _pg_outcome(pg, table, row))
            if outcomes != (expected, expected):
                differences.append(f"{table} {change}: sqlite, postgres = {outcomes}")
    assert differences == []


async def test_deleting_a_parent_cascades_alike(both: Any) -> None:
    lite, pg = both
    children: list[tuple[str, dict[str, Any]]] = [
        (
            "circle_members",
            {"circle_id": 1, "guild_id": G, "user_id": U, "mode": "share", "joined_at": T},
        ),
        (
            "circle_rsvps",
            {
                "session_id": 1,
                "guild_id": G,
                "user_id": U,
                "mode": "listen",
                "status": "going",
                "created_at": T,
            },
        ),
        ("buddy_members", {"pair_id": 1, "user_id": U}),
    ]
    for table, row in children:
        lite.execute(*_insert(table, row, "?"))
        sql, values = _insert(table, row, "$")
        await pg.execute(sql, *values)
    for parent in ("circles", "buddy_pairs"):
        lite.execute(f"DELETE FROM {parent} WHERE id = 1")
        await pg.execute(f"DELETE FROM {parent} WHERE id = 1")
    for table in ("circle_sessions", "circle_members", "circle_rsvps", "buddy_members"):
        counts = (
            lite.execute(f"SELECT count(*) FROM {table}").fetchone()[0],
            await pg.fetchval(f"SELECT count(*) FROM {table}"),
        )
        assert counts == (0, 0), table
