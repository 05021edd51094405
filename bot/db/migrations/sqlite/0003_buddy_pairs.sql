-- Buddy pairs, as far as check-ins need them: who a member's current buddy is, and the private
-- thread they share if any. The buddies feature (pairing, consent, rematch) builds on this.
CREATE TABLE buddy_pairs (
    id         INTEGER PRIMARY KEY,
    guild_id   INTEGER NOT NULL,
    thread_id  INTEGER,
    started_at TEXT    NOT NULL,
    ended_at   TEXT
);
CREATE INDEX buddy_pairs_current ON buddy_pairs (guild_id) WHERE ended_at IS NULL;

CREATE TABLE buddy_members (
    pair_id INTEGER NOT NULL REFERENCES buddy_pairs (id) ON DELETE CASCADE,
    user_id INTEGER NOT NULL,
    PRIMARY KEY (pair_id, user_id)
) WITHOUT ROWID;
CREATE INDEX buddy_members_user ON buddy_members (user_id);
