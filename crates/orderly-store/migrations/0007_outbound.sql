-- Where each outbound destination (an alert manager, a webhook subscription) has got to in the
-- event log: the events after `seq` are its backlog, so what was committed and not yet taken by
-- the destination is sent after a restart.
CREATE TABLE outbound_cursor (
    destination TEXT PRIMARY KEY,
    seq BIGINT NOT NULL,
    updated_ms BIGINT NOT NULL
);
-- Messages a destination refused for good (AR, or AE and unreadable answers after retries):
-- kept with the reason, never lost, and sent again by hand once the cause is fixed.
CREATE TABLE outbound_parked (
    id TEXT PRIMARY KEY,
    destination TEXT NOT NULL,
    seq BIGINT NOT NULL,
    at_ms BIGINT NOT NULL,
    reason TEXT NOT NULL,
    retried_ms BIGINT
);
CREATE INDEX outbound_parked_destination ON outbound_parked (destination, at_ms);
-- Webhook subscriptions: event kinds and units ("" for all), the URL and the signing secret.
CREATE TABLE webhooks (
    id TEXT PRIMARY KEY,
    url TEXT NOT NULL,
    secret TEXT NOT NULL,
    kinds TEXT NOT NULL,
    units TEXT NOT NULL,
    created_ms BIGINT NOT NULL,
    created_by TEXT NOT NULL,
    paused_ms BIGINT,
    paused_reason TEXT,
    deleted_ms BIGINT
);
-- Every delivery attempt of a webhook: the event, the attempt, the outcome.
CREATE TABLE webhook_deliveries (
    id TEXT PRIMARY KEY,
    webhook TEXT NOT NULL,
    seq BIGINT NOT NULL,
    kind TEXT NOT NULL,
    attempt BIGINT NOT NULL,
    at_ms BIGINT NOT NULL,
    outcome TEXT NOT NULL,
    status BIGINT,
    detail TEXT NOT NULL,
    took_ms BIGINT NOT NULL
);
CREATE INDEX webhook_deliveries_by ON webhook_deliveries (webhook, at_ms);
