-- Login accounts for the API (argon2 password hashes) and their opaque session tokens.
-- Keep in step with ../postgres/20260104000000_accounts.sql.

CREATE TABLE accounts (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id     BIGINT  NOT NULL REFERENCES tenants (id),
    login         TEXT    NOT NULL UNIQUE CHECK (length(login) BETWEEN 3 AND 100),
    password_hash TEXT    NOT NULL CHECK (length(password_hash) BETWEEN 20 AND 200),
    role          TEXT    NOT NULL CHECK (role IN ('admin', 'read_only')),
    enabled       INTEGER NOT NULL DEFAULT 1 CHECK (enabled IN (0, 1)),
    created_at    BIGINT  NOT NULL
);
CREATE INDEX accounts_tenant ON accounts (tenant_id);

CREATE TABLE login_tokens (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id BIGINT  NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    token_hash TEXT    NOT NULL UNIQUE CHECK (length(token_hash) = 64),
    created_at BIGINT  NOT NULL,
    expires_at BIGINT  NOT NULL
);
CREATE INDEX login_tokens_account ON login_tokens (account_id);
CREATE INDEX login_tokens_expiry ON login_tokens (expires_at);
