-- Every index on `envelopes` is written at every admission, and under load most of what
-- a commit writes is index pages, not ciphertext. Two of them did not earn it:
-- `envelopes_by_recipient` is read by nothing since the inbox walks `envelopes_pending`;
-- `envelopes_by_consent` is read only to count what was delivered under a consent, so it
-- now holds only what was delivered or acknowledged, and an admission (`accepted`) does
-- not write it.
DROP INDEX envelopes_by_recipient;
DROP INDEX envelopes_by_consent;
CREATE INDEX envelopes_delivered_by_consent ON envelopes(consent_id)
    WHERE state IN ('delivered', 'acknowledged');
