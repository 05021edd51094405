-- Check-ins: the records themselves, the daily prompt, personal reminders, gentle noticing,
-- and notices that wait for the member's next command.

CREATE TABLE checkins (
    id         INTEGER PRIMARY KEY,
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
CREATE INDEX checkins_member ON checkins (guild_id, user_id, created_at);
CREATE INDEX checkins_age ON checkins (guild_id, created_at);

-- The server's daily check-in prompt: a local wall-clock rule in the server's zone.
CREATE TABLE checkin_prompt (
    guild_id   INTEGER PRIMARY KEY,
    at_time    TEXT    NOT NULL,            -- local 'HH:MM'
    days       TEXT    NOT NULL CHECK (days IN ('every-day', 'weekdays', 'weekends')),
    channel_id INTEGER,                     -- NULL: the configured check-in channel
    updated_at TEXT    NOT NULL
);

-- A member's opt-in DM reminder, at their local time.
CREATE TABLE checkin_reminders (
    guild_id        INTEGER NOT NULL,
    user_id         INTEGER NOT NULL,
    at_time         TEXT    NOT NULL,       -- local 'HH:MM' in the member's zone
    days            TEXT    NOT NULL CHECK (days IN ('every-day', 'weekdays', 'weekends')),
    failed_in_a_row INTEGER NOT NULL DEFAULT 0,
    updated_at      TEXT    NOT NULL,
    PRIMARY KEY (guild_id, user_id)
) WITHOUT ROWID;

-- Opt-in: let my buddy know if I go quiet for `quiet_days`.
CREATE TABLE checkin_noticing (
    guild_id   INTEGER NOT NULL,
    user_id    INTEGER NOT NULL,
    quiet_days INTEGER NOT NULL CHECK (quiet_days BETWEEN 2 AND 14),
    updated_at TEXT    NOT NULL,
    PRIMARY KEY (guild_id, user_id)
) WITHOUT ROWID;

-- Things to tell a member privately the next time they use any command.
CREATE TABLE member_notices (
    id         INTEGER PRIMARY KEY,
    guild_id   INTEGER NOT NULL,
    user_id    INTEGER NOT NULL,
    text       TEXT    NOT NULL,
    created_at TEXT    NOT NULL
);
CREATE INDEX member_notices_member ON member_notices (guild_id, user_id);
