-- What admission verifies an envelope against changes rarely: a case's members, its
-- consent history and its past patient keys. Every change to them bumps the case's
-- `facts_version`, by triggers in the transaction of the change, so no code path can
-- forget it and every replica sees it. A replica reads the version with the case and
-- serves what it verified before while the version (and the case row and key records it
-- was verified from) are unchanged, instead of reading three tables per envelope.
ALTER TABLE cases ADD COLUMN facts_version INTEGER NOT NULL DEFAULT 0;

CREATE TRIGGER facts_version_members_insert AFTER INSERT ON members
BEGIN
    UPDATE cases SET facts_version = facts_version + 1 WHERE id = NEW.case_id;
END;
CREATE TRIGGER facts_version_members_update AFTER UPDATE ON members
BEGIN
    UPDATE cases SET facts_version = facts_version + 1 WHERE id IN (OLD.case_id, NEW.case_id);
END;
CREATE TRIGGER facts_version_members_delete AFTER DELETE ON members
BEGIN
    UPDATE cases SET facts_version = facts_version + 1 WHERE id = OLD.case_id;
END;

CREATE TRIGGER facts_version_consents_insert AFTER INSERT ON consents
BEGIN
    UPDATE cases SET facts_version = facts_version + 1 WHERE id = NEW.case_id;
END;
CREATE TRIGGER facts_version_consents_update AFTER UPDATE ON consents
BEGIN
    UPDATE cases SET facts_version = facts_version + 1 WHERE id IN (OLD.case_id, NEW.case_id);
END;
CREATE TRIGGER facts_version_consents_delete AFTER DELETE ON consents
BEGIN
    UPDATE cases SET facts_version = facts_version + 1 WHERE id = OLD.case_id;
END;

CREATE TRIGGER facts_version_keys_insert AFTER INSERT ON patient_key_history
BEGIN
    UPDATE cases SET facts_version = facts_version + 1 WHERE id = NEW.case_id;
END;
CREATE TRIGGER facts_version_keys_update AFTER UPDATE ON patient_key_history
BEGIN
    UPDATE cases SET facts_version = facts_version + 1 WHERE id IN (OLD.case_id, NEW.case_id);
END;
CREATE TRIGGER facts_version_keys_delete AFTER DELETE ON patient_key_history
BEGIN
    UPDATE cases SET facts_version = facts_version + 1 WHERE id = OLD.case_id;
END;
