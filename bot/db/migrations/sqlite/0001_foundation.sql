-- Foundation: server configuration, member profiles, the outbox of scheduled work, the
-- delivery ledger and the command-tree hash. Instants are UTC text 'YYYY-MM-DDTHH:MM:SSZ';
-- wall-clock times are local 'HH:MM' beside an IANA zone name.

-- One row per server, written by /haven setup and /haven resources.
CREATE TABLE guild_config (
    guild_id           INTEGER PRIMARY KEY,
    checkin_channel_id INTEGER,
    circle_channel_id  INTEGER,
    buddy_channel_id   INTEGER,
    mod_channel_id     INTEGER,
    host_role_id       INTEGER,
    timezone           TEXT    NOT NULL DEFAULT 'UTC',
    retention_days     INTEGER NOT NULL DEFAULT 90 CHECK (retention_days BETWEEN 7 AND 3650),
    resources          TEXT,   -- the server's support resources; NULL means Haven's default text
    updated_at         TEXT    NOT NULL
);

-- What a member told Haven about themselves in one server.
CREATE TABLE member_profile (
    guild_id     INTEGER NOT NULL,
    user_id      INTEGER NOT NULL,
    timezone     TEXT,     -- NULL: the server's zone
    quiet_start  TEXT,     -- local 'HH:MM'; both or neither
    quiet_end    TEXT,
    paused_until TEXT,     -- instant; NULL when not paused
    updated_at   TEXT    NOT NULL,
    PRIMARY KEY (guild_id, user_id),
    CHECK ((quiet_start IS NULL) = (quiet_end IS NULL))
) WITHOUT ROWID;

-- The outbox: every occurrence of scheduled work is a row with a unique key, a due instant and
-- a deadline. APScheduler only wakes the bot at the earliest pending due_at; this table decides
-- what runs, what was missed (deadline passed while the bot was down) and what already ran.
CREATE TABLE outbox (
    id          INTEGER PRIMARY KEY,
    key         TEXT    NOT NULL UNIQUE,
    kind        TEXT    NOT NULL,
    guild_id    INTEGER,
    user_id     INTEGER,
    payload     TEXT    NOT NULL DEFAULT '{}',
    due_at      TEXT    NOT NULL,
    deadline_at TEXT    NOT NULL,
    state       TEXT    NOT NULL DEFAULT 'pending'
                CHECK (state IN ('pending', 'running', 'done', 'missed', 'failed', 'cancelled')),
    attempts    INTEGER NOT NULL DEFAULT 0,
    finished_at TEXT,
    note        TEXT,
    CHECK (deadline_at >= due_at)
);
CREATE INDEX outbox_pending ON outbox (due_at) WHERE state = 'pending';
CREATE INDEX outbox_member ON outbox (guild_id, user_id);

-- The delivery ledger: one row per message that must be sent at most once. The key also seeds
-- the Discord nonce, so a retry after a crash is de-duplicated by Discord itself.
CREATE TABLE deliveries (
    key        TEXT    PRIMARY KEY,
    guild_id   INTEGER,
    user_id    INTEGER,  -- the member the message is to or about, so /my forget finds it
    state      TEXT    NOT NULL CHECK (state IN ('sending', 'sent', 'dm_closed', 'failed')),
    attempts   INTEGER NOT NULL DEFAULT 0,
    channel_id INTEGER,
    message_id INTEGER,
    error      TEXT,
    updated_at TEXT    NOT NULL
) WITHOUT ROWID;
CREATE INDEX deliveries_member ON deliveries (guild_id, user_id);

-- Members whose DMs refused us (Discord error 50007). Every refusal counts toward Discord's
-- invalid-request ban, so we do not knock again until the memory expires or they opt in anew.
CREATE TABLE closed_dms (
    user_id   INTEGER PRIMARY KEY,
    closed_at TEXT    NOT NULL
) WITHOUT ROWID;

-- The hash of the last command tree synced per scope ('global' or 'guild:<id>').
CREATE TABLE command_sync (
    scope     TEXT PRIMARY KEY,
    tree_hash TEXT NOT NULL,
    synced_at TEXT NOT NULL
) WITHOUT ROWID;
