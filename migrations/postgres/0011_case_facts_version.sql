-- What admission verifies an envelope against changes rarely: a case's members, its
-- consent history and its past patient keys. Every change to them bumps the case's
-- `facts_version`, by triggers in the transaction of the change, so no code path can
-- forget it and every replica sees it. A replica reads the version with the case and
-- serves what it verified before while the version (and the case row and key records it
-- was verified from) are unchanged, instead of reading three tables per envelope.
ALTER TABLE cases ADD COLUMN facts_version BIGINT NOT NULL DEFAULT 0;

CREATE FUNCTION facts_version_bump() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        UPDATE cases SET facts_version = facts_version + 1 WHERE id = OLD.case_id;
    END IF;
    IF TG_OP = 'INSERT' OR (TG_OP = 'UPDATE' AND NEW.case_id IS DISTINCT FROM OLD.case_id) THEN
        UPDATE cases SET facts_version = facts_version + 1 WHERE id = NEW.case_id;
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER facts_version_members AFTER INSERT OR UPDATE OR DELETE ON members
    FOR EACH ROW EXECUTE FUNCTION facts_version_bump();
CREATE TRIGGER facts_version_consents AFTER INSERT OR UPDATE OR DELETE ON consents
    FOR EACH ROW EXECUTE FUNCTION facts_version_bump();
CREATE TRIGGER facts_version_keys AFTER INSERT OR UPDATE OR DELETE ON patient_key_history
    FOR EACH ROW EXECUTE FUNCTION facts_version_bump();
