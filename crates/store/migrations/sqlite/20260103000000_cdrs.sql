-- Call detail records, SQLite dialect. Keep in step with ../postgres (same columns and
-- constraints; only the identity column and the length function differ).
--
-- One row per call leg. There are no foreign keys, like audit_log: a CDR is a billing and legal
-- record that must outlive the tenant, user and carrier it names. `uuid` is chosen by whoever
-- produced the CDR and makes every write idempotent (INSERT ... ON CONFLICT (uuid) DO NOTHING),
-- so the journal may deliver a record twice without it being stored twice.
-- Timestamps are milliseconds since the Unix epoch; money is in micro-units of `currency`;
-- MOS is stored times 100 (no float columns).

CREATE TABLE cdrs (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    uuid           TEXT   NOT NULL UNIQUE CHECK (length(uuid) = 32),
    customer_id    BIGINT NOT NULL,
    user_id        BIGINT,
    call_id        TEXT   NOT NULL CHECK (length(call_id) BETWEEN 1 AND 255),
    leg            TEXT   NOT NULL CHECK (leg IN ('a', 'b')),
    direction      TEXT   NOT NULL CHECK (direction IN ('inbound', 'outbound', 'internal')),
    caller         TEXT   NOT NULL CHECK (length(caller) <= 128),
    callee         TEXT   NOT NULL CHECK (length(callee) <= 128),
    started_at     BIGINT NOT NULL CHECK (started_at >= 0),
    answered_at    BIGINT CHECK (answered_at IS NULL OR answered_at >= started_at),
    ended_at       BIGINT NOT NULL CHECK (ended_at >= started_at),
    duration_ms    BIGINT NOT NULL,
    billsec_ms     BIGINT NOT NULL,
    disposition    TEXT   NOT NULL
        CHECK (disposition IN ('answered', 'busy', 'no_answer', 'cancelled', 'failed')),
    sip_code       BIGINT NOT NULL CHECK (sip_code BETWEEN 100 AND 699),
    hangup_reason  TEXT   NOT NULL CHECK (length(hangup_reason) BETWEEN 1 AND 64),
    carrier_id     BIGINT,
    rate_prefix    TEXT   CHECK (rate_prefix IS NULL OR length(rate_prefix) BETWEEN 1 AND 32),
    billed         BIGINT CHECK (billed IS NULL OR billed >= 0),
    currency       TEXT   CHECK (currency IS NULL OR length(currency) = 3),
    rtp_packets_rx BIGINT CHECK (rtp_packets_rx IS NULL OR rtp_packets_rx >= 0),
    rtp_packets_tx BIGINT CHECK (rtp_packets_tx IS NULL OR rtp_packets_tx >= 0),
    rtp_lost       BIGINT CHECK (rtp_lost IS NULL OR rtp_lost >= 0),
    jitter_us      BIGINT CHECK (jitter_us IS NULL OR jitter_us >= 0),
    rtt_us         BIGINT CHECK (rtt_us IS NULL OR rtt_us >= 0),
    mos_x100       BIGINT CHECK (mos_x100 IS NULL OR mos_x100 BETWEEN 100 AND 500),
    recording      TEXT   CHECK (recording IS NULL OR length(recording) BETWEEN 1 AND 1024),
    created_at     BIGINT NOT NULL,
    CHECK (answered_at IS NULL OR ended_at >= answered_at),
    CHECK ((disposition = 'answered') = (answered_at IS NOT NULL)),
    CHECK (duration_ms = ended_at - started_at),
    CHECK (billsec_ms = COALESCE(ended_at - answered_at, 0)),
    CHECK ((billed IS NULL) = (currency IS NULL))
);
-- Reads are always scoped by customer and paged by id.
CREATE INDEX cdrs_customer ON cdrs (customer_id, id);
CREATE INDEX cdrs_user ON cdrs (user_id);
CREATE INDEX cdrs_started ON cdrs (started_at);
