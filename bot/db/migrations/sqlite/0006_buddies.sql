-- Buddies: who opted in (and how), private avoid lists and moderators' separations, the
-- server's pairing cadence, and check-backs. Pairs themselves stay in buddy_pairs and
-- buddy_members (0003), which check-ins already read.

-- A member who opted in to buddy pairing in one server.
CREATE TABLE buddy_profiles (
    guild_id      INTEGER NOT NULL,
    user_id       INTEGER NOT NULL,
    intro         TEXT,
    pronouns      TEXT,
    style         TEXT    NOT NULL DEFAULT 'either' CHECK (style IN ('text', 'voice', 'either')),
    paused_until  TEXT,             -- skipped by runs until this instant
    wants_change  INTEGER NOT NULL DEFAULT 0,  -- asked for a new buddy at the next run
    quiet_checks  INTEGER NOT NULL DEFAULT 0,  -- check-backs in a row left unanswered
    joined_at     TEXT    NOT NULL,
    updated_at    TEXT    NOT NULL,
    PRIMARY KEY (guild_id, user_id)
) WITHOUT ROWID;

-- Whom a member never wants as a buddy. The avoided member is stored only as a keyed hash
-- (bot/buddies.py), so this row never names them: not in their /my data, not after they ask
-- Haven to forget them, not to anyone reading the database.
CREATE TABLE buddy_avoids (
    guild_id   INTEGER NOT NULL,
    user_id    INTEGER NOT NULL,
    avoided    TEXT    NOT NULL,
    created_at TEXT    NOT NULL,
    PRIMARY KEY (guild_id, user_id, avoided)
) WITHOUT ROWID;

-- A moderator's "never pair these two", both as keyed hashes (smaller first).
CREATE TABLE buddy_separations (
    guild_id   INTEGER NOT NULL,
    first      TEXT    NOT NULL,
    second     TEXT    NOT NULL,
    created_at TEXT    NOT NULL,
    PRIMARY KEY (guild_id, first, second),
    CHECK (first < second)
) WITHOUT ROWID;

-- The server's pairing rhythm: every N weeks at a weekday and time in the server's zone.
CREATE TABLE buddy_cadence (
    guild_id    INTEGER PRIMARY KEY,
    every_weeks INTEGER NOT NULL CHECK (every_weeks BETWEEN 1 AND 8),
    weekday     INTEGER NOT NULL CHECK (weekday BETWEEN 0 AND 6),
    at_time     TEXT    NOT NULL,
    anchor      TEXT    NOT NULL,  -- a local date in the week the cadence counts from
    updated_at  TEXT    NOT NULL
);

-- Why a pair ended, and the run that made it (for check-backs and history).
ALTER TABLE buddy_pairs ADD COLUMN end_reason TEXT;
ALTER TABLE buddy_pairs ADD COLUMN run_key TEXT;

-- A member's private answer to one round of check-backs about their pair.
CREATE TABLE buddy_checkbacks (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,  -- buttons carry it
    pair_id     INTEGER NOT NULL REFERENCES buddy_pairs (id) ON DELETE CASCADE,
    guild_id    INTEGER NOT NULL,
    user_id     INTEGER NOT NULL,
    round       TEXT    NOT NULL,  -- the pairing run whose cycle it is halfway through
    asked_at    TEXT    NOT NULL,
    answer      TEXT    CHECK (answer IN ('connected', 'not-yet', 'not-a-fit', 'paused')),
    answered_at TEXT,
    UNIQUE (pair_id, user_id, round)
);
CREATE INDEX buddy_checkbacks_member ON buddy_checkbacks (guild_id, user_id);
