-- PostgreSQL twin of sqlite/0007_cluster.sql (read it for the why).

ALTER TABLE outbox ADD COLUMN claimed_by TEXT COLLATE "C";
ALTER TABLE outbox ADD COLUMN lease_until TEXT COLLATE "C";
CREATE INDEX outbox_running ON outbox (lease_until) WHERE state = 'running';

CREATE TABLE rate_budget (
    name    TEXT COLLATE "C" PRIMARY KEY,
    next_at DOUBLE PRECISION NOT NULL
);
