-- Trialog schema (SQLite). Times are Unix seconds; ids are text; signed objects are stored
-- exactly as received (JSON text of {payload, sig, key}) so they can be re-verified.
-- No column ever holds a field value in clear: only ciphertext, hashes and ids.

CREATE TABLE invitations (
    code_hash   TEXT PRIMARY KEY,          -- SHA-256 of the one-time code; the code itself is never stored
    role        TEXT NOT NULL CHECK (role IN ('treating', 'occupational', 'advising')),
    riziv       TEXT NOT NULL,
    name        TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    used_by     TEXT,
    used_at     INTEGER
);

CREATE TABLE accounts (
    id          TEXT PRIMARY KEY,
    role        TEXT NOT NULL CHECK (role IN ('treating', 'occupational', 'advising', 'patient')),
    name        TEXT,
    riziv       TEXT UNIQUE,
    key_record  TEXT NOT NULL,
    sign_key    BLOB NOT NULL,
    fingerprint TEXT NOT NULL,
    created_at  INTEGER NOT NULL
);

CREATE TABLE login_nonces (
    nonce       BLOB PRIMARY KEY,
    account     TEXT NOT NULL REFERENCES accounts(id),
    expires_at  INTEGER NOT NULL
);

CREATE TABLE cases (
    id               TEXT PRIMARY KEY,
    label            TEXT NOT NULL,
    treating         TEXT NOT NULL REFERENCES accounts(id),
    patient          TEXT REFERENCES accounts(id),
    binding          TEXT,
    enrol_code_hash  TEXT UNIQUE,
    enrol_expires_at INTEGER,
    opened_at        INTEGER NOT NULL
);

CREATE TABLE members (
    case_id   TEXT NOT NULL REFERENCES cases(id),
    account   TEXT NOT NULL REFERENCES accounts(id),
    status    TEXT NOT NULL CHECK (status IN ('active', 'invited')),
    added_by  TEXT NOT NULL REFERENCES accounts(id),
    added_at  INTEGER NOT NULL,
    PRIMARY KEY (case_id, account)
);
CREATE INDEX members_by_account ON members(account);

CREATE TABLE consents (
    id            TEXT PRIMARY KEY,
    case_id       TEXT NOT NULL REFERENCES cases(id),
    recipient     TEXT NOT NULL REFERENCES accounts(id),
    signed        TEXT NOT NULL,
    valid_until   INTEGER NOT NULL,
    created_at    INTEGER NOT NULL,
    revoked_at    INTEGER,
    revocation    TEXT,
    superseded_by TEXT,
    superseded_at INTEGER
);
CREATE INDEX consents_by_case ON consents(case_id, recipient);

CREATE TABLE envelopes (
    id          TEXT PRIMARY KEY,             -- message id: accepted once, kept after purge
    case_id     TEXT NOT NULL REFERENCES cases(id),
    sender      TEXT NOT NULL REFERENCES accounts(id),
    recipient   TEXT NOT NULL REFERENCES accounts(id),
    consent_id  TEXT NOT NULL REFERENCES consents(id),
    kind        TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    accepted_at INTEGER NOT NULL,
    state       TEXT NOT NULL CHECK (state IN ('accepted', 'delivered', 'acknowledged', 'purged')),
    header      TEXT NOT NULL,                -- the signed header, as received
    fields      BLOB                          -- JSON of the encrypted fields; NULL once purged
);
CREATE INDEX envelopes_by_recipient ON envelopes(recipient, accepted_at);
CREATE INDEX envelopes_by_consent ON envelopes(consent_id, state);

CREATE TABLE audit (
    chain  TEXT NOT NULL,
    seq    INTEGER NOT NULL,
    entry  BLOB NOT NULL,
    hash   TEXT NOT NULL,
    PRIMARY KEY (chain, seq)
);
