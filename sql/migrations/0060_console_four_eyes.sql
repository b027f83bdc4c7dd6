-- 0060: four eyes on the rest of what moves money from the console or the
-- CLI (issue 17): a file's deferral to another cycle, and the replay of a
-- poisoned event whose handler moves a cycle towards settlement. Each is a
-- request by one operator and a decision by another, in the same tables
-- as write-offs and cap raises; a replay is recorded once per poisoned
-- message, so an approval or a click replayed does not publish it twice.

ALTER TABLE approval_requests DROP CONSTRAINT approval_requests_action_check;
ALTER TABLE approval_requests ADD CONSTRAINT approval_requests_action_check
  CHECK (action IN ('break.write_off', 'cap.raise', 'file.defer', 'poison.replay'));

-- A deferral's request names the cycle the file is in and the one it goes
-- to; its subject is BIC/FILE-ID, its note the reason the bank is told.
ALTER TABLE approval_requests ADD COLUMN from_date date;
ALTER TABLE approval_requests ADD COLUMN to_date date;
ALTER TABLE approval_requests ADD CONSTRAINT approval_requests_defer_dates
  CHECK ((action = 'file.defer') = (from_date IS NOT NULL AND to_date IS NOT NULL) AND (from_date IS NULL OR from_date <> to_date));

-- Every replay of a poisoned message, once per message: by whom, and the
-- four-eyes request it carried out when the event moves money.
CREATE TABLE poison_replays (
  uuid        text PRIMARY KEY CHECK (char_length(uuid) BETWEEN 1 AND 64),
  topic       text NOT NULL CHECK (char_length(topic) BETWEEN 1 AND 128),
  cycle       text NOT NULL DEFAULT '' CHECK (char_length(cycle) <= 32),
  replayed_by text NOT NULL CHECK (char_length(replayed_by) BETWEEN 1 AND 64),
  request_id  bigint REFERENCES approval_requests,
  replayed_at timestamptz NOT NULL
);
CREATE TRIGGER poison_replays_append_only BEFORE UPDATE OR DELETE ON poison_replays
  FOR EACH ROW EXECUTE FUNCTION forbid_rewrite();
CREATE TRIGGER poison_replays_no_truncate BEFORE TRUNCATE ON poison_replays
  FOR EACH STATEMENT EXECUTE FUNCTION forbid_rewrite();

GRANT SELECT ON poison_replays TO settle_auditor;
GRANT SELECT, INSERT ON poison_replays TO settle_service;
