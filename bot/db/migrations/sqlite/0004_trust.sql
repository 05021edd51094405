-- Trust and shared mechanisms.
--
-- 1. Ids that a ledger key, a custom_id or an outbox key refers to are never reused. Without
--    AUTOINCREMENT SQLite hands the highest id out again once its row is deleted (a retention
--    purge), and "checkin-share:<id>" would then read as already sent. The tables are rebuilt
--    (SQLite cannot add AUTOINCREMENT in place); migrate() runs this with foreign keys off and
--    checks them before committing.
CREATE TABLE checkins_new (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    guild_id   INTEGER NOT NULL,
    user_id    INTEGER NOT NULL,
    created_at TEXT    NOT NULL,
    feeling    TEXT    NOT NULL
               CHECK (feeling IN ('settled', 'stirred', 'foggy', 'heavy', 'tender', 'bright', 'pass')),
    capacity   INTEGER CHECK (capacity BETWEEN 1 AND 5),
    note       TEXT    CHECK (length(note) BETWEEN 1 AND 1000),
    share      TEXT    NOT NULL CHECK (share IN ('private', 'buddy', 'channel', 'anonymous')),
    reach_out  INTEGER NOT NULL DEFAULT 0 CHECK (reach_out IN (0, 1))
);
INSERT INTO checkins_new SELECT id, guild_id, user_id, created_at, feeling, capacity, note, share,
    reach_out FROM checkins;
DROP TABLE checkins;
ALTER TABLE checkins_new RENAME TO checkins;
CREATE INDEX checkins_member ON checkins (guild_id, user_id, created_at);
CREATE INDEX checkins_age ON checkins (guild_id, created_at);

CREATE TABLE buddy_pairs_new (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    guild_id   INTEGER NOT NULL,
    thread_id  INTEGER,
    started_at TEXT    NOT NULL,
    ended_at   TEXT
);
INSERT INTO buddy_pairs_new SELECT id, guild_id, thread_id, started_at, ended_at FROM buddy_pairs;
DROP TABLE buddy_pairs;
ALTER TABLE buddy_pairs_new RENAME TO buddy_pairs;
CREATE INDEX buddy_pairs_current ON buddy_pairs (guild_id) WHERE ended_at IS NULL;

CREATE TABLE member_notices_new (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    guild_id   INTEGER NOT NULL,
    user_id    INTEGER NOT NULL,
    text       TEXT    NOT NULL,
    created_at TEXT    NOT NULL
);
INSERT INTO member_notices_new SELECT id, guild_id, user_id, text, created_at FROM member_notices;
DROP TABLE member_notices;
ALTER TABLE member_notices_new RENAME TO member_notices;
CREATE INDEX member_notices_member ON member_notices (guild_id, user_id);

-- 2. A delivery can be *about* a member other than its recipient (a buddy share DMed to the
--    buddy, a nudge about a quiet member). /my forget finds those rows by `about_id`, and takes
--    down the posts they point at.
ALTER TABLE deliveries ADD COLUMN about_id INTEGER;
CREATE INDEX deliveries_about ON deliveries (guild_id, about_id);

-- 3. "Stop these DMs": a member's choice, per server and kind of DM, made with the button every
--    DM carries (it works from outside the server too).
CREATE TABLE dm_stops (
    guild_id   INTEGER NOT NULL,
    user_id    INTEGER NOT NULL,
    kind       TEXT    NOT NULL,
    stopped_at TEXT    NOT NULL,
    PRIMARY KEY (guild_id, user_id, kind)
) WITHOUT ROWID;

-- 4. The key that signs custom_id fields which must not be forged (hex text, made on first start).
CREATE TABLE app_secrets (
    name  TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;

-- 5. Moderators' own words that show the support card privately (one per line).
ALTER TABLE guild_config ADD COLUMN distress_phrases TEXT;
