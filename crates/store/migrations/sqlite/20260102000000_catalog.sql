-- Catalog schema, SQLite dialect: devices, carriers and their gateways, outbound routes, rate
-- tables and rates. Keep in step with ../postgres (same tables, columns, constraints; only
-- identity columns, booleans and the length function differ).

-- A customer's phone hardware, optionally handed to one of its users.
CREATE TABLE devices (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    customer_id BIGINT  NOT NULL REFERENCES tenants (id),
    name        TEXT    NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    -- 12 lower-case hex digits without separators.
    mac         TEXT    UNIQUE CHECK (mac IS NULL OR length(mac) = 12),
    model       TEXT    CHECK (model IS NULL OR length(model) BETWEEN 1 AND 100),
    user_id     BIGINT,
    created_at  BIGINT  NOT NULL,
    -- A device can only be handed to a user of the customer that owns it.
    FOREIGN KEY (user_id, customer_id) REFERENCES users (id, customer_id)
);
CREATE INDEX devices_customer ON devices (customer_id);
CREATE INDEX devices_user ON devices (user_id);

-- Upstream trunks of the platform or of a reseller.
CREATE TABLE carriers (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id    BIGINT  NOT NULL REFERENCES tenants (id),
    name         TEXT    NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    auth_mode    TEXT    NOT NULL CHECK (auth_mode IN ('ip', 'credentials')),
    username     TEXT    CHECK (username IS NULL OR length(username) BETWEEN 1 AND 128),
    -- Plaintext on purpose: we answer the carrier's digest challenges, whose realm and
    -- algorithm the carrier picks per challenge, so a precomputed HA1 would not do.
    password     TEXT    CHECK (password IS NULL OR length(password) BETWEEN 1 AND 128),
    realm        TEXT    CHECK (realm IS NULL OR length(realm) BETWEEN 1 AND 253),
    enabled      INTEGER NOT NULL DEFAULT 1 CHECK (enabled IN (0, 1)),
    max_channels BIGINT  CHECK (max_channels IS NULL OR max_channels >= 0),
    created_at   BIGINT  NOT NULL,
    UNIQUE (tenant_id, name),
    CHECK ((auth_mode = 'ip' AND username IS NULL AND password IS NULL AND realm IS NULL)
        OR (auth_mode = 'credentials' AND username IS NOT NULL AND password IS NOT NULL))
);

-- Where a carrier takes calls. For ip-auth carriers, gateways with an IP-literal host are also
-- the source addresses trusted for inbound calls from that carrier.
CREATE TABLE gateways (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    carrier_id BIGINT  NOT NULL REFERENCES carriers (id),
    host       TEXT    NOT NULL CHECK (length(host) BETWEEN 1 AND 253),
    port       BIGINT  NOT NULL DEFAULT 5060 CHECK (port BETWEEN 1 AND 65535),
    transport  TEXT    NOT NULL DEFAULT 'udp' CHECK (transport IN ('udp', 'tcp', 'tls')),
    priority   BIGINT  NOT NULL DEFAULT 0 CHECK (priority BETWEEN 0 AND 65535),
    weight     BIGINT  NOT NULL DEFAULT 1 CHECK (weight BETWEEN 0 AND 65535),
    enabled    INTEGER NOT NULL DEFAULT 1 CHECK (enabled IN (0, 1)),
    created_at BIGINT  NOT NULL,
    UNIQUE (carrier_id, host, port, transport)
);

-- Outbound routes: the platform's apply to everyone, a reseller's to its customers, a
-- customer's to itself. The carrier belongs to the route's tenant or one of its ancestors
-- (checked by the store: SQL cannot express it portably).
CREATE TABLE routes (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id  BIGINT  NOT NULL REFERENCES tenants (id),
    -- Optional '+', then up to 20 digits; empty matches every number.
    prefix     TEXT    NOT NULL CHECK (length(prefix) <= 21),
    carrier_id BIGINT  NOT NULL REFERENCES carriers (id),
    priority   BIGINT  NOT NULL DEFAULT 0 CHECK (priority BETWEEN 0 AND 65535),
    strip      BIGINT  NOT NULL DEFAULT 0 CHECK (strip BETWEEN 0 AND 20),
    prepend    TEXT    NOT NULL DEFAULT '' CHECK (length(prepend) <= 20),
    enabled    INTEGER NOT NULL DEFAULT 1 CHECK (enabled IN (0, 1)),
    created_at BIGINT  NOT NULL,
    UNIQUE (tenant_id, prefix, carrier_id)
);
CREATE INDEX routes_carrier ON routes (carrier_id);

-- Price lists of the platform or of a reseller.
CREATE TABLE rate_tables (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id  BIGINT  NOT NULL REFERENCES tenants (id),
    name       TEXT    NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    -- ISO 4217 code.
    currency   TEXT    NOT NULL CHECK (length(currency) = 3),
    created_at BIGINT  NOT NULL,
    UNIQUE (tenant_id, name)
);

-- Money is in integer micro-units of the table's currency (1 EUR = 1 000 000).
CREATE TABLE rates (
    id                  INTEGER PRIMARY KEY AUTOINCREMENT,
    rate_table_id       BIGINT  NOT NULL REFERENCES rate_tables (id),
    prefix              TEXT    NOT NULL CHECK (length(prefix) BETWEEN 1 AND 20),
    description         TEXT    CHECK (description IS NULL OR length(description) BETWEEN 1 AND 200),
    price_per_min       BIGINT  NOT NULL CHECK (price_per_min >= 0),
    connect_fee         BIGINT  NOT NULL DEFAULT 0 CHECK (connect_fee >= 0),
    initial_increment_s BIGINT  NOT NULL DEFAULT 60 CHECK (initial_increment_s BETWEEN 1 AND 3600),
    increment_s         BIGINT  NOT NULL DEFAULT 60 CHECK (increment_s BETWEEN 1 AND 3600),
    created_at          BIGINT  NOT NULL,
    UNIQUE (rate_table_id, prefix)
);

-- The rate table a customer is billed by (its parent's or the platform's; checked by the store).
ALTER TABLE tenants ADD COLUMN rate_table_id BIGINT REFERENCES rate_tables (id);
CREATE INDEX tenants_rate_table ON tenants (rate_table_id);
