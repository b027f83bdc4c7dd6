-- 0007: an operator may defer an accepted file to a later cycle, e.g. when
-- its sender is over its net debit cap and cannot fund tonight. The file
-- and its payments are never edited: a deferral is a row of its own, and a
-- file's cycle is the last deferral's target, or the cycle it was accepted
-- into (file_cycle). A file can be deferred only while its cycle has
-- nothing on the ledger (the application checks the stage under the
-- cycle's lock).
CREATE TABLE file_deferrals (
  id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  file_row     bigint NOT NULL REFERENCES files,
  from_cycle   bigint NOT NULL REFERENCES cycles,
  to_cycle     bigint NOT NULL REFERENCES cycles,
  reason       text NOT NULL CHECK (char_length(reason) BETWEEN 1 AND 500),
  actor        text NOT NULL CHECK (char_length(actor) BETWEEN 1 AND 200),
  recorded_at  timestamptz NOT NULL DEFAULT now(),
  CHECK (from_cycle <> to_cycle),
  UNIQUE (file_row, from_cycle)
);
CREATE INDEX file_deferrals_file ON file_deferrals (file_row, id);
CREATE INDEX file_deferrals_to ON file_deferrals (to_cycle);
CREATE INDEX file_deferrals_from ON file_deferrals (from_cycle);
CREATE TRIGGER file_deferrals_append_only BEFORE UPDATE OR DELETE ON file_deferrals
  FOR EACH ROW EXECUTE FUNCTION forbid_rewrite();
CREATE TRIGGER file_deferrals_no_truncate BEFORE TRUNCATE ON file_deferrals
  FOR EACH STATEMENT EXECUTE FUNCTION forbid_rewrite();
GRANT SELECT ON file_deferrals TO settle_auditor;
GRANT SELECT, INSERT ON file_deferrals TO settle_service;

-- The cycle a file settles in now.
CREATE FUNCTION file_cycle(f bigint) RETURNS bigint LANGUAGE sql STABLE AS $$
  SELECT coalesce(
    (SELECT d.to_cycle FROM file_deferrals d WHERE d.file_row = f ORDER BY d.id DESC LIMIT 1),
    (SELECT x.cycle_id FROM files x WHERE x.id = f))
$$;

-- A reversal's original must be in an earlier cycle than the reversal's,
-- counting the original's file's deferrals: a payment deferred into the
-- cycle a reversal of it would land in is not settled before it.
CREATE OR REPLACE FUNCTION payments_check_reversal() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  o payments%ROWTYPE;
BEGIN
  SELECT * INTO o FROM payments
  WHERE sender = NEW.sender AND payment_id = NEW.original_payment_id AND kind = 'P'
  ORDER BY file_id, line LIMIT 1;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'ORIGINAL_UNKNOWN: reversal % of % at file % line %: no such payment of sender %',
      NEW.payment_id, NEW.original_payment_id, NEW.file_id, NEW.line, NEW.sender
      USING ERRCODE = 'foreign_key_violation';
  END IF;
  IF o.file_id = NEW.file_id OR file_cycle(o.file_id) >= NEW.cycle_id THEN
    RAISE EXCEPTION 'ORIGINAL_NOT_SETTLED: reversal % of % at file % line %: the original is not in an earlier cycle',
      NEW.payment_id, NEW.original_payment_id, NEW.file_id, NEW.line
      USING ERRCODE = 'check_violation';
  END IF;
  IF o.debtor <> NEW.debtor OR o.creditor <> NEW.creditor OR o.currency <> NEW.currency OR o.amount <> NEW.amount THEN
    RAISE EXCEPTION 'ORIGINAL_MISMATCH: reversal % of % at file % line %: fields differ from the original',
      NEW.payment_id, NEW.original_payment_id, NEW.file_id, NEW.line
      USING ERRCODE = 'check_violation';
  END IF;
  RETURN NULL;
END
$$;
