-- Patient re-enrolment (task B): a patient who lost their device enrols a new key for the
-- same account with a code the treating physician re-issued. The replaced key and the
-- treating physician's binding of it are kept, so that what it signed (consents,
-- revocations) stays verifiable against the key that signed it, by the server and by every
-- client. Only confirmed keys are kept: an unconfirmed key cannot have signed a consent.
CREATE TABLE patient_key_history (
    case_id     TEXT NOT NULL REFERENCES cases(id),
    account     TEXT NOT NULL REFERENCES accounts(id),
    -- The replaced key record and its binding, exactly as received (JSON of the signed objects).
    key_record  TEXT NOT NULL,
    binding     TEXT NOT NULL,
    replaced_at INTEGER NOT NULL
);
CREATE INDEX patient_key_history_by_case ON patient_key_history(case_id, replaced_at);

-- When the account's key was last replaced by a re-enrolment: session tokens issued before
-- it are refused, so a lost device's token dies with its key.
ALTER TABLE accounts ADD COLUMN key_replaced_at INTEGER;
