-- The status of each asset whose status changed since the seed (the seed gives the rest).
CREATE TABLE asset_status (
    asset TEXT PRIMARY KEY,
    status TEXT NOT NULL,
    since_ms BIGINT NOT NULL,
    by_whom TEXT NOT NULL,
    reason TEXT NOT NULL
);
