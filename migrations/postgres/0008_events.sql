-- Live delivery (issue 9): what happened that an account is waiting to hear of, in the
-- order it was committed. `GET /v1/events` streams them from the last id a client saw, so
-- a client that reconnects (to this replica or another) resumes without a gap. Written in
-- the same transaction as what they announce; they hold ids and a reason code, never
-- content. Kept for a bounded time (the sweep prunes them).
CREATE TABLE events (
    id       BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account  TEXT NOT NULL,
    -- `message` (new envelope, to its recipient), `acknowledged` (to its sender), `gone`
    -- (destroyed unread, to its recipient), `consent_revoked` (to the physician it named).
    kind     TEXT NOT NULL,
    -- The message or consent id the event is about.
    subject  TEXT NOT NULL,
    case_id  TEXT NOT NULL,
    -- `gone`: why (`revoked`, `expired`, `no_longer_covered`, `member_removed`).
    reason   TEXT,
    at       BIGINT NOT NULL
);
CREATE INDEX events_by_account ON events(account, id);
CREATE INDEX events_by_time ON events(at);
-- Ids are taken under the writers' advisory lock (`db/postgres.rs`), so they increase in
-- commit order and a reader resuming after id N cannot miss a later commit with a lower id.
