-- Several processes on one database (PostgreSQL; SQLite keeps one process, but its schema stays
-- the same so either can be moved to the other).

-- Who is running a claimed outbox row, and until when the claim holds. A process renews the
-- leases of what it is still running; a process that died stops renewing, and once its leases
-- end another process puts the rows back to pending and runs them.
ALTER TABLE outbox ADD COLUMN claimed_by TEXT;
ALTER TABLE outbox ADD COLUMN lease_until TEXT;
CREATE INDEX outbox_running ON outbox (lease_until) WHERE state = 'running';

-- One rate budget shared by every process of one bot token (Discord's global limit is per
-- token, not per process): `next_at` is when, in the database's clock as seconds since the
-- epoch, the next request may go; each process reserves its slots by moving it on.
CREATE TABLE rate_budget (
    name    TEXT NOT NULL PRIMARY KEY,
    next_at REAL NOT NULL
);
