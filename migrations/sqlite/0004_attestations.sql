-- Identities the clients can check (issue 8).

-- The operator's signed attestation of a physician's current key (`protocol::attestation`),
-- written only by the offline `trialog-server approve`. Until it is set, clients refuse
-- the physician's key.
ALTER TABLE accounts ADD COLUMN attestation TEXT;
-- After a recovery, until `approve`: the fingerprint of the key the new one replaces (the
-- attestation is cleared then), so that the next attestation revokes it by name.
ALTER TABLE accounts ADD COLUMN recovered_from TEXT;

-- A recovery invitation names the existing account whose key the registration replaces.
ALTER TABLE invitations ADD COLUMN recovers TEXT REFERENCES accounts(id);
