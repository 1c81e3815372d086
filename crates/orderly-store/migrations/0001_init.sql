-- Portable SQL: runs unchanged on SQLite and PostgreSQL. Times are Unix milliseconds.

-- Every event the world emitted, in order: the outbox, committed before it is published.
CREATE TABLE events (
    seq BIGINT PRIMARY KEY,
    at_ms BIGINT NOT NULL,
    kind TEXT NOT NULL,
    unit TEXT,
    subject TEXT,
    body TEXT NOT NULL
);
CREATE INDEX events_at ON events (at_ms);
CREATE INDEX events_subject ON events (subject, seq);

-- The last known room of every tagged subject.
CREATE TABLE locations (
    subject TEXT PRIMARY KEY,
    room TEXT NOT NULL,
    since_ms BIGINT NOT NULL,
    last_seen_ms BIGINT NOT NULL,
    confidence DOUBLE PRECISION NOT NULL
);

-- Stays: one row per (subject, room) visit; to_ms is NULL for the current one.
CREATE TABLE location_history (
    subject TEXT NOT NULL,
    room TEXT NOT NULL,
    from_ms BIGINT NOT NULL,
    to_ms BIGINT,
    seq BIGINT NOT NULL,
    PRIMARY KEY (subject, seq)
);
CREATE INDEX location_history_open ON location_history (subject, to_ms);

-- Alerts as they stand; the events table holds every transition.
CREATE TABLE alerts (
    id TEXT PRIMARY KEY,
    rule TEXT NOT NULL,
    subject TEXT NOT NULL,
    unit TEXT,
    state TEXT NOT NULL,
    priority TEXT NOT NULL,
    raised_ms BIGINT NOT NULL,
    updated_ms BIGINT NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX alerts_unit_state ON alerts (unit, state);

-- API tokens: only a SHA-256 of the secret is kept.
CREATE TABLE tokens (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    hash TEXT NOT NULL UNIQUE,
    role TEXT NOT NULL,
    units TEXT NOT NULL,
    created_ms BIGINT NOT NULL,
    revoked_ms BIGINT
);

-- Who did or read what, when: every write and every read of patient data.
CREATE TABLE audit (
    at_ms BIGINT NOT NULL,
    who TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT NOT NULL,
    detail TEXT NOT NULL
);
CREATE INDEX audit_at ON audit (at_ms);
