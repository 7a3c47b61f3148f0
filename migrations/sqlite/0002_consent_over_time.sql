-- Consent over time (issue 6): need-to-know membership, sealed case labels, destroyed
-- ciphertext accounted for, stateless login challenges.

-- The case label is end-to-end encrypted to the treating physician and the patient; the
-- server never holds it in clear. Labels stored in clear before this migration are dropped.
ALTER TABLE cases DROP COLUMN label;
ALTER TABLE cases ADD COLUMN sealed_label BLOB;

-- A patient can remove a physician: the row stays (the audit names it), status `removed`.
CREATE TABLE members_new (
    case_id    TEXT NOT NULL REFERENCES cases(id),
    account    TEXT NOT NULL REFERENCES accounts(id),
    status     TEXT NOT NULL CHECK (status IN ('active', 'invited', 'removed')),
    added_by   TEXT NOT NULL REFERENCES accounts(id),
    added_at   INTEGER NOT NULL,
    removed_at INTEGER,
    PRIMARY KEY (case_id, account)
);
INSERT INTO members_new (case_id, account, status, added_by, added_at)
    SELECT case_id, account, status, added_by, added_at FROM members;
DROP TABLE members;
ALTER TABLE members_new RENAME TO members;
CREATE INDEX members_by_account ON members(account);

-- Expiry destroys what is unread at the moment of expiry; the sweep marks it done here.
ALTER TABLE consents ADD COLUMN expired_at INTEGER;
CREATE INDEX consents_open_by_end ON consents(valid_until) WHERE revoked_at IS NULL AND superseded_by IS NULL AND expired_at IS NULL;

-- Bytes of ciphertext an envelope holds (for the recipient's quota), and why it was
-- destroyed: `revoked`, `expired`, `no_longer_covered`, `member_removed`.
ALTER TABLE envelopes ADD COLUMN size INTEGER NOT NULL DEFAULT 0;
ALTER TABLE envelopes ADD COLUMN purge_reason TEXT;
-- Only what is pending is walked by the inbox and the quota.
CREATE INDEX envelopes_pending ON envelopes(recipient, accepted_at, id) WHERE fields IS NOT NULL;
CREATE INDEX envelopes_pending_by_case ON envelopes(case_id, recipient) WHERE fields IS NOT NULL;

-- Login challenges are signed by the server and hold no state until used: a used one is
-- remembered (by digest) until it expires, so it cannot be replayed. Anonymous requests
-- never write.
DROP TABLE login_nonces;
CREATE TABLE used_challenges (
    digest     TEXT PRIMARY KEY,
    expires_at INTEGER NOT NULL
);

-- Consents signed before this version name their senders in a format no client verifies
-- any more (and their text hashes changed with Brussels dates): they are retired here, and
-- what was waiting under them is destroyed. Patients consent again.
ALTER TABLE consents ADD COLUMN retired INTEGER NOT NULL DEFAULT 0;
UPDATE consents SET retired = 1;
UPDATE envelopes SET fields = NULL, state = 'purged', purge_reason = 'consent_format_retired'
    WHERE fields IS NOT NULL;
