-- Nyckel's records in PostgreSQL: one table per record kind, keyed by the same bytes as the
-- sled trees, each value the same JSON document (bytes) the sled store keeps.
CREATE TABLE tenants (key bytea PRIMARY KEY, value bytea NOT NULL);
CREATE TABLE users (key bytea PRIMARY KEY, value bytea NOT NULL);
CREATE TABLE relying_parties (key bytea PRIMARY KEY, value bytea NOT NULL);
CREATE TABLE admins (key bytea PRIMARY KEY, value bytea NOT NULL);
CREATE TABLE devices (key bytea PRIMARY KEY, value bytea NOT NULL);
CREATE TABLE enrollments (key bytea PRIMARY KEY, value bytea NOT NULL);
CREATE TABLE challenges (key bytea PRIMARY KEY, value bytea NOT NULL);
-- Request nonces within the replay window: `at` is the request's time, seconds.
CREATE TABLE nonces (
    device text NOT NULL,
    nonce bytea NOT NULL,
    at bigint NOT NULL,
    PRIMARY KEY (device, nonce)
);
CREATE INDEX nonces_at ON nonces (at);
