-- Maintenance work orders as they stand now (their history is in the event log).
CREATE TABLE work_orders (
    id TEXT PRIMARY KEY,
    asset TEXT NOT NULL,
    reason TEXT NOT NULL,
    status TEXT NOT NULL,
    opened_ms BIGINT NOT NULL,
    updated_ms BIGINT NOT NULL,
    closed_ms BIGINT,
    body TEXT NOT NULL
);
CREATE INDEX work_orders_asset ON work_orders (asset, status);
CREATE INDEX work_orders_status ON work_orders (status, opened_ms);
