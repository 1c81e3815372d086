-- Site ownership: exactly one instance processes a site, the holder of its lease. The lease
-- lapses at `expires_ms` (the database's clock, so instances' clocks need not agree) unless
-- renewed; whoever takes it over raises `epoch`, and every commit of the site's events checks
-- the epoch it was taken with, so an instance that lost the lease can no longer commit.
CREATE TABLE site_lease (
    site TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    epoch BIGINT NOT NULL,
    acquired_ms BIGINT NOT NULL,
    renewed_ms BIGINT NOT NULL,
    expires_ms BIGINT NOT NULL,
    http TEXT NOT NULL
);
-- Every instance running against this database, owner or standby, as it last reported.
CREATE TABLE cluster_instances (
    instance TEXT PRIMARY KEY,
    site TEXT NOT NULL,
    http TEXT NOT NULL,
    started_ms BIGINT NOT NULL,
    seen_ms BIGINT NOT NULL,
    state TEXT NOT NULL
);
