-- Listening circles: the circles moderators set up, their sessions (materialised ahead with UTC
-- instants), who is going or waiting, the talking piece, and the DM channels Haven has opened.
-- A session's identity is its circle and local date, so re-planning after an edit keeps the
-- RSVPs of every date that still has a session. Every table that names a member carries
-- guild_id, so data rights (/my data, /my forget) find rows with one condition.

CREATE TABLE circles (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,  -- never reused: buttons carry it
    guild_id     INTEGER NOT NULL,
    name         TEXT    NOT NULL,
    description  TEXT    NOT NULL DEFAULT '',
    weekday      INTEGER NOT NULL CHECK (weekday BETWEEN 0 AND 6),  -- 0 = Monday
    at_time      TEXT    NOT NULL,  -- local 'HH:MM'
    timezone     TEXT    NOT NULL,  -- IANA name
    every_weeks  INTEGER NOT NULL CHECK (every_weeks IN (1, 2, 4)),
    anchor       TEXT    NOT NULL,  -- a local date in the week the cadence counts from
    duration_min INTEGER NOT NULL CHECK (duration_min BETWEEN 15 AND 240),
    capacity     INTEGER NOT NULL CHECK (capacity BETWEEN 2 AND 50),
    host_id      INTEGER,           -- NULL when the host left or asked Haven to forget them
    channel_id   INTEGER,           -- text, voice or stage; NULL: the server's circle channel
    reminders    TEXT    NOT NULL DEFAULT '1440,60',  -- lead times in minutes, longest first
    archived_at  TEXT,
    created_at   TEXT    NOT NULL,
    updated_at   TEXT    NOT NULL
);
CREATE INDEX circles_guild ON circles (guild_id);

CREATE TABLE circle_cohosts (
    circle_id INTEGER NOT NULL REFERENCES circles (id) ON DELETE CASCADE,
    guild_id  INTEGER NOT NULL,
    user_id   INTEGER NOT NULL,
    added_at  TEXT    NOT NULL,
    PRIMARY KEY (circle_id, user_id)
) WITHOUT ROWID;
CREATE INDEX circle_cohosts_member ON circle_cohosts (guild_id, user_id);

CREATE TABLE circle_sessions (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    circle_id    INTEGER NOT NULL REFERENCES circles (id) ON DELETE CASCADE,
    guild_id     INTEGER NOT NULL,
    local_date   TEXT    NOT NULL,  -- 'YYYY-MM-DD' in the circle's zone
    starts_at    TEXT    NOT NULL,  -- UTC instant
    ends_at      TEXT    NOT NULL,
    state        TEXT    NOT NULL DEFAULT 'planned'
                 CHECK (state IN ('planned', 'skipped', 'cancelled', 'open', 'closed')),
    topic        TEXT,
    content_note TEXT,
    reason       TEXT,              -- why it was skipped or cancelled, as the host wrote it
    away         INTEGER NOT NULL DEFAULT 0,  -- the host asked co-hosts to cover it
    cover_id     INTEGER,           -- the co-host who said "I'll host" for this session
    seat_offers  INTEGER NOT NULL DEFAULT 0,  -- how many times a seat was offered to the waitlist
    UNIQUE (circle_id, local_date),
    CHECK (ends_at > starts_at)
);
CREATE INDEX circle_sessions_upcoming ON circle_sessions (guild_id, starts_at);

-- Members who join every session of a circle (/circle join every_week:true).
CREATE TABLE circle_members (
    circle_id INTEGER NOT NULL REFERENCES circles (id) ON DELETE CASCADE,
    guild_id  INTEGER NOT NULL,
    user_id   INTEGER NOT NULL,
    mode      TEXT    NOT NULL CHECK (mode IN ('share', 'listen', 'text')),
    aftercare INTEGER NOT NULL DEFAULT 0,
    joined_at TEXT    NOT NULL,
    PRIMARY KEY (circle_id, user_id)
) WITHOUT ROWID;
CREATE INDEX circle_members_member ON circle_members (guild_id, user_id);

-- One member's place in one session: going (a seat) or waiting (the waitlist, in id order).
CREATE TABLE circle_rsvps (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,  -- arrival order: the waitlist's order
    session_id INTEGER NOT NULL REFERENCES circle_sessions (id) ON DELETE CASCADE,
    guild_id   INTEGER NOT NULL,
    user_id    INTEGER NOT NULL,
    mode       TEXT    NOT NULL CHECK (mode IN ('share', 'listen', 'text')),
    status     TEXT    NOT NULL CHECK (status IN ('going', 'waiting')),
    aftercare  INTEGER NOT NULL DEFAULT 0,  -- accepted a gentle DM two hours after
    confirmed  INTEGER NOT NULL DEFAULT 0,  -- pressed "I'll be there"
    attended   INTEGER,                     -- the host's attendance; NULL: not recorded
    created_at TEXT    NOT NULL,
    UNIQUE (session_id, user_id)
);
CREATE INDEX circle_rsvps_member ON circle_rsvps (guild_id, user_id);

-- Who agreed to a circle's agreements (asked once per circle, on the first join).
CREATE TABLE circle_agreements (
    circle_id INTEGER NOT NULL REFERENCES circles (id) ON DELETE CASCADE,
    guild_id  INTEGER NOT NULL,
    user_id   INTEGER NOT NULL,
    agreed_at TEXT    NOT NULL,
    PRIMARY KEY (circle_id, user_id)
) WITHOUT ROWID;

-- The talking piece of an open session: who holds it and who is waiting to share.
CREATE TABLE circle_talking (
    session_id INTEGER NOT NULL REFERENCES circle_sessions (id) ON DELETE CASCADE,
    guild_id   INTEGER NOT NULL,
    user_id    INTEGER NOT NULL,
    state      TEXT    NOT NULL CHECK (state IN ('holding', 'waiting', 'shared', 'passed')),
    queued_at  TEXT    NOT NULL,
    PRIMARY KEY (session_id, user_id)
) WITHOUT ROWID;

-- The DM channel Discord gave Haven for each member, so a repeat DM is one request, not two.
CREATE TABLE dm_channels (
    user_id    INTEGER PRIMARY KEY,
    channel_id INTEGER NOT NULL,
    opened_at  TEXT    NOT NULL
) WITHOUT ROWID;
