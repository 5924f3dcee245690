-- Provisioning schema, SQLite dialect. Keep in step with ../postgres (same tables, columns,
-- constraints; only identity columns, booleans and the length function differ).
-- Timestamps are milliseconds since the Unix epoch (BIGINT) so both back ends decode them alike.
-- Booleans are INTEGER 0/1 here (sqlx's Any driver cannot decode SQLite's BOOLEAN) and BOOLEAN in PostgreSQL.

CREATE TABLE tenants (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    kind       TEXT    NOT NULL CHECK (kind IN ('platform', 'reseller', 'customer')),
    parent_id  BIGINT  REFERENCES tenants (id),
    name       TEXT    NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    created_at BIGINT  NOT NULL,
    CHECK ((kind = 'platform') = (parent_id IS NULL))
);
CREATE UNIQUE INDEX tenants_parent_name ON tenants (parent_id, name);
CREATE UNIQUE INDEX tenants_one_platform ON tenants (kind) WHERE kind = 'platform';
CREATE INDEX tenants_parent ON tenants (parent_id);
INSERT INTO tenants (kind, parent_id, name, created_at) VALUES ('platform', NULL, 'platform', 0);

CREATE TABLE domains (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    customer_id BIGINT  NOT NULL REFERENCES tenants (id),
    name        TEXT    NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 253),
    created_at  BIGINT  NOT NULL,
    UNIQUE (id, customer_id)
);
CREATE INDEX domains_customer ON domains (customer_id);

CREATE TABLE users (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    customer_id BIGINT  NOT NULL REFERENCES tenants (id),
    domain_id   BIGINT  NOT NULL,
    username    TEXT    NOT NULL CHECK (length(username) BETWEEN 1 AND 64),
    ha1_md5     TEXT    NOT NULL CHECK (length(ha1_md5) = 32),
    ha1_sha256  TEXT    NOT NULL CHECK (length(ha1_sha256) = 64),
    caller_id   TEXT    CHECK (caller_id IS NULL OR length(caller_id) <= 64),
    max_calls   BIGINT  CHECK (max_calls IS NULL OR max_calls >= 0),
    enabled     INTEGER NOT NULL DEFAULT 1 CHECK (enabled IN (0, 1)),
    created_at  BIGINT  NOT NULL,
    UNIQUE (domain_id, username),
    UNIQUE (id, customer_id),
    -- The composite key makes it impossible for a user to sit in another customer's domain.
    FOREIGN KEY (domain_id, customer_id) REFERENCES domains (id, customer_id)
);
CREATE INDEX users_customer ON users (customer_id);

CREATE TABLE dids (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    customer_id BIGINT  NOT NULL REFERENCES tenants (id),
    e164        TEXT    NOT NULL UNIQUE CHECK (length(e164) BETWEEN 9 AND 16),
    user_id     BIGINT,
    created_at  BIGINT  NOT NULL,
    -- A DID can only point at a user of the customer that owns it.
    FOREIGN KEY (user_id, customer_id) REFERENCES users (id, customer_id)
);
CREATE INDEX dids_customer ON dids (customer_id);
CREATE INDEX dids_user ON dids (user_id);

CREATE TABLE api_keys (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id  BIGINT  NOT NULL REFERENCES tenants (id),
    role       TEXT    NOT NULL CHECK (role IN ('admin', 'read_only')),
    key_hash   TEXT    NOT NULL UNIQUE CHECK (length(key_hash) = 64),
    created_at BIGINT  NOT NULL,
    revoked    INTEGER NOT NULL DEFAULT 0 CHECK (revoked IN (0, 1))
);
CREATE INDEX api_keys_tenant ON api_keys (tenant_id);

-- No foreign key on tenant_id: the trail outlives the rows it describes.
CREATE TABLE audit_log (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id BIGINT  NOT NULL,
    actor     TEXT    NOT NULL,
    action    TEXT    NOT NULL,
    entity    TEXT    NOT NULL,
    entity_id BIGINT  NOT NULL,
    at        BIGINT  NOT NULL,
    detail    TEXT    NOT NULL
);
CREATE INDEX audit_log_tenant ON audit_log (tenant_id, id);
