-- The quotas read what waits for a recipient at every admission. Counted from the
-- envelopes, that walked every pending entry of the recipient (up to the quota: 1000), the
-- costliest statement of the serialised writer's turn. These counts are kept by a trigger,
-- in the transaction of every change to an envelope, so no code path can forget them, and
-- a quota check reads one row per sender of the recipient. Pending is told by `state`, as
-- in 0009 (`accepted` or `delivered` exactly while `fields` holds ciphertext).
-- No envelope may change between the counting below and the trigger taking over (another
-- replica, still on the previous version, may be writing): a change in between would
-- never be counted.
LOCK TABLE envelopes IN SHARE ROW EXCLUSIVE MODE;

CREATE TABLE pending_queues (
    recipient TEXT NOT NULL,
    sender    TEXT NOT NULL,
    pending   BIGINT NOT NULL,
    bytes     BIGINT NOT NULL,
    PRIMARY KEY (recipient, sender)
);

INSERT INTO pending_queues (recipient, sender, pending, bytes)
    SELECT recipient, sender, COUNT(*), COALESCE(SUM(size), 0) FROM envelopes
    WHERE state IN ('accepted', 'delivered') GROUP BY recipient, sender;

CREATE FUNCTION pending_queues_count() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- accepted -> delivered (every first fetch) leaves the counts as they are.
    IF TG_OP = 'UPDATE'
       AND (OLD.state IN ('accepted', 'delivered')) = (NEW.state IN ('accepted', 'delivered')) THEN
        RETURN NULL;
    END IF;
    IF TG_OP IN ('UPDATE', 'DELETE') AND OLD.state IN ('accepted', 'delivered') THEN
        UPDATE pending_queues SET pending = pending - 1, bytes = bytes - OLD.size
        WHERE recipient = OLD.recipient AND sender = OLD.sender;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') AND NEW.state IN ('accepted', 'delivered') THEN
        INSERT INTO pending_queues (recipient, sender, pending, bytes)
        VALUES (NEW.recipient, NEW.sender, 1, NEW.size)
        ON CONFLICT (recipient, sender)
        DO UPDATE SET pending = pending_queues.pending + 1,
                      bytes = pending_queues.bytes + EXCLUDED.bytes;
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER pending_queues_count AFTER INSERT OR UPDATE OF state OR DELETE ON envelopes
    FOR EACH ROW EXECUTE FUNCTION pending_queues_count();

-- Read by nothing now; every insert paid for it.
DROP INDEX envelopes_pending_sizes;
