-- The quotas count a recipient's pending envelopes and bytes at every admission. This index
-- answers both from itself: reading `size` from the rows meant walking past each one's
-- ciphertext (`size` came after `fields`, in its overflow pages), so admissions cost more
-- the more was waiting. Pending is told by `state` here (`accepted` or `delivered` exactly
-- while `fields` holds ciphertext: acknowledgement and purge clear both at once), because
-- SQLite does not read a partial index on `fields IS NOT NULL` as covering.
CREATE INDEX envelopes_pending_sizes ON envelopes(recipient, state, sender, size);
