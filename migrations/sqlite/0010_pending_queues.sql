-- The quotas read what waits for a recipient at every admission. Counted from the
-- envelopes, that walked every pending entry of the recipient (up to the quota: 1000), the
-- costliest statement of the serialised writer's turn. These counts are kept by triggers,
-- in the transaction of every change to an envelope, so no code path can forget them, and
-- a quota check reads one row per sender of the recipient. Pending is told by `state`, as
-- in 0009 (`accepted` or `delivered` exactly while `fields` holds ciphertext).
CREATE TABLE pending_queues (
    recipient TEXT NOT NULL,
    sender    TEXT NOT NULL,
    pending   INTEGER NOT NULL,
    bytes     INTEGER NOT NULL,
    PRIMARY KEY (recipient, sender)
);

INSERT INTO pending_queues (recipient, sender, pending, bytes)
    SELECT recipient, sender, COUNT(*), COALESCE(SUM(size), 0) FROM envelopes
    WHERE state IN ('accepted', 'delivered') GROUP BY recipient, sender;

CREATE TRIGGER pending_queues_insert AFTER INSERT ON envelopes
WHEN NEW.state IN ('accepted', 'delivered')
BEGIN
    INSERT INTO pending_queues (recipient, sender, pending, bytes)
    VALUES (NEW.recipient, NEW.sender, 1, NEW.size)
    ON CONFLICT (recipient, sender)
    DO UPDATE SET pending = pending + 1, bytes = bytes + excluded.bytes;
END;

CREATE TRIGGER pending_queues_enter AFTER UPDATE OF state ON envelopes
WHEN OLD.state NOT IN ('accepted', 'delivered') AND NEW.state IN ('accepted', 'delivered')
BEGIN
    INSERT INTO pending_queues (recipient, sender, pending, bytes)
    VALUES (NEW.recipient, NEW.sender, 1, NEW.size)
    ON CONFLICT (recipient, sender)
    DO UPDATE SET pending = pending + 1, bytes = bytes + excluded.bytes;
END;

CREATE TRIGGER pending_queues_leave AFTER UPDATE OF state ON envelopes
WHEN OLD.state IN ('accepted', 'delivered') AND NEW.state NOT IN ('accepted', 'delivered')
BEGIN
    UPDATE pending_queues SET pending = pending - 1, bytes = bytes - OLD.size
    WHERE recipient = OLD.recipient AND sender = OLD.sender;
END;

CREATE TRIGGER pending_queues_delete AFTER DELETE ON envelopes
WHEN OLD.state IN ('accepted', 'delivered')
BEGIN
    UPDATE pending_queues SET pending = pending - 1, bytes = bytes - OLD.size
    WHERE recipient = OLD.recipient AND sender = OLD.sender;
END;

-- Read by nothing now; every insert paid for it.
DROP INDEX envelopes_pending_sizes;
