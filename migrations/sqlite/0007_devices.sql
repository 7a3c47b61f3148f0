-- Several devices per account (issue 8).

-- The account's device list, signed by its identity key (`protocol::devices`), and its
-- version: a new list must be exactly one higher, so none is lost or replayed.
ALTER TABLE accounts ADD COLUMN devices TEXT;
ALTER TABLE accounts ADD COLUMN devices_version INTEGER NOT NULL DEFAULT 0;

-- Adding a device: a one-time code shown by an existing device, claimed by the new one
-- with its encryption key, approved by the existing one with the identity key sealed to it.
CREATE TABLE device_links (
    id            TEXT PRIMARY KEY,
    account       TEXT NOT NULL REFERENCES accounts(id),
    code_hash     TEXT NOT NULL UNIQUE,
    created_at    INTEGER NOT NULL,
    expires_at    INTEGER NOT NULL,
    age_recipient TEXT,
    name          TEXT,
    sealed        BLOB
);
CREATE INDEX device_links_by_account ON device_links(account);
