-- The operator's tools (issue 8): invitations can be revoked, accounts suspended.

-- A revoked invitation can no longer be used; the row stays so `invitations list` shows it.
ALTER TABLE invitations ADD COLUMN revoked_at INTEGER;
CREATE INDEX invitations_by_riziv ON invitations(riziv);

-- While set, the account's tokens, login, sending and receiving are refused; what is sent
-- to it is held (kept, not listed) until the suspension is lifted.
ALTER TABLE accounts ADD COLUMN suspended_at INTEGER;
