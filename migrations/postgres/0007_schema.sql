-- Trialog schema (PostgreSQL): the same tables as SQLite's migrations 0001 to 0007, made
-- at once. Later migrations carry the same number in both directories. Times are Unix
-- seconds (BIGINT); ids are text; signed objects are stored exactly as received (JSON
-- text) so they can be re-verified. No column ever holds a field value in clear: only
-- ciphertext, hashes and ids. See the SQLite migrations for why each column exists.

CREATE TABLE accounts (
    id              TEXT PRIMARY KEY,
    role            TEXT NOT NULL CHECK (role IN ('treating', 'occupational', 'advising', 'patient')),
    name            TEXT,
    riziv           TEXT UNIQUE,
    key_record      TEXT NOT NULL,
    sign_key        BYTEA NOT NULL,
    fingerprint     TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    suspended_at    BIGINT,
    attestation     TEXT,
    recovered_from  TEXT,
    key_replaced_at BIGINT,
    devices         TEXT,
    devices_version BIGINT NOT NULL DEFAULT 0
);

CREATE TABLE invitations (
    -- SQLite's implicit rowid, made explicit: `invitations list` shows them in this order.
    rowid       BIGINT GENERATED ALWAYS AS IDENTITY,
    code_hash   TEXT PRIMARY KEY,
    role        TEXT NOT NULL CHECK (role IN ('treating', 'occupational', 'advising')),
    riziv       TEXT NOT NULL,
    name        TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    used_by     TEXT,
    used_at     BIGINT,
    revoked_at  BIGINT,
    recovers    TEXT REFERENCES accounts(id)
);
CREATE INDEX invitations_by_riziv ON invitations(riziv);

CREATE TABLE cases (
    id               TEXT PRIMARY KEY,
    treating         TEXT NOT NULL REFERENCES accounts(id),
    patient          TEXT REFERENCES accounts(id),
    binding          TEXT,
    enrol_code_hash  TEXT UNIQUE,
    enrol_expires_at BIGINT,
    opened_at        BIGINT NOT NULL,
    sealed_label     BYTEA
);

CREATE TABLE members (
    case_id    TEXT NOT NULL REFERENCES cases(id),
    account    TEXT NOT NULL REFERENCES accounts(id),
    status     TEXT NOT NULL CHECK (status IN ('active', 'invited', 'removed')),
    added_by   TEXT NOT NULL REFERENCES accounts(id),
    added_at   BIGINT NOT NULL,
    removed_at BIGINT,
    PRIMARY KEY (case_id, account)
);
CREATE INDEX members_by_account ON members(account);

CREATE TABLE consents (
    id            TEXT PRIMARY KEY,
    case_id       TEXT NOT NULL REFERENCES cases(id),
    recipient     TEXT NOT NULL REFERENCES accounts(id),
    signed        TEXT NOT NULL,
    valid_until   BIGINT NOT NULL,
    created_at    BIGINT NOT NULL,
    revoked_at    BIGINT,
    revocation    TEXT,
    superseded_by TEXT,
    superseded_at BIGINT,
    expired_at    BIGINT,
    retired       BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX consents_by_case ON consents(case_id, recipient);
CREATE INDEX consents_open_by_end ON consents(valid_until)
    WHERE revoked_at IS NULL AND superseded_by IS NULL AND expired_at IS NULL;

CREATE TABLE envelopes (
    id           TEXT PRIMARY KEY,
    case_id      TEXT NOT NULL REFERENCES cases(id),
    sender       TEXT NOT NULL REFERENCES accounts(id),
    recipient    TEXT NOT NULL REFERENCES accounts(id),
    consent_id   TEXT NOT NULL REFERENCES consents(id),
    kind         TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    accepted_at  BIGINT NOT NULL,
    state        TEXT NOT NULL CHECK (state IN ('accepted', 'delivered', 'acknowledged', 'purged')),
    header       TEXT NOT NULL,
    fields       BYTEA,
    size         BIGINT NOT NULL DEFAULT 0,
    purge_reason TEXT
);
CREATE INDEX envelopes_by_recipient ON envelopes(recipient, accepted_at);
CREATE INDEX envelopes_by_consent ON envelopes(consent_id, state);
CREATE INDEX envelopes_pending ON envelopes(recipient, accepted_at, id) WHERE fields IS NOT NULL;
CREATE INDEX envelopes_pending_by_case ON envelopes(case_id, recipient) WHERE fields IS NOT NULL;

CREATE TABLE audit (
    chain  TEXT NOT NULL,
    seq    BIGINT NOT NULL,
    entry  BYTEA NOT NULL,
    hash   TEXT NOT NULL,
    PRIMARY KEY (chain, seq)
);

CREATE TABLE used_challenges (
    digest     TEXT PRIMARY KEY,
    expires_at BIGINT NOT NULL
);

CREATE TABLE certificate_statements (
    cert_sha256 TEXT PRIMARY KEY,
    statement   BYTEA NOT NULL,
    issued_at   BIGINT NOT NULL
);

CREATE TABLE patient_key_history (
    -- SQLite's implicit rowid, made explicit: the order rows were written in.
    rowid       BIGINT GENERATED ALWAYS AS IDENTITY,
    case_id     TEXT NOT NULL REFERENCES cases(id),
    account     TEXT NOT NULL REFERENCES accounts(id),
    key_record  TEXT NOT NULL,
    binding     TEXT NOT NULL,
    replaced_at BIGINT NOT NULL
);
CREATE INDEX patient_key_history_by_case ON patient_key_history(case_id, replaced_at);

CREATE TABLE device_links (
    id            TEXT PRIMARY KEY,
    account       TEXT NOT NULL REFERENCES accounts(id),
    code_hash     TEXT NOT NULL UNIQUE,
    created_at    BIGINT NOT NULL,
    expires_at    BIGINT NOT NULL,
    age_recipient TEXT,
    name          TEXT,
    sealed        BYTEA
);
CREATE INDEX device_links_by_account ON device_links(account);
