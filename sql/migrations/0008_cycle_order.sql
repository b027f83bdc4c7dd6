-- Cycles are ordered by business day, then sequence, never by row id: a
-- file dated ahead opens its later day's cycle before an earlier day's
-- exists, so ids do not follow the calendar. Before this, a reversal in
-- such an earlier cycle passed as "after" its original's, was accepted,
-- and would have been refused by the ledger at recording, holding up its
-- whole cycle.

-- Whether cycle a comes before cycle b in settlement order.
CREATE FUNCTION cycle_before(a bigint, b bigint) RETURNS boolean LANGUAGE sql STABLE AS $$
  SELECT (x.business_date, x.seq) < (y.business_date, y.seq)
  FROM cycles x, cycles y WHERE x.id = a AND y.id = b
$$;

-- Whether a reversal in file rev_file, cycle rev_cycle, comes too early
-- for its original in file orig_file: the same file, or a cycle not after
-- the one the original settles in (counting deferrals). The one rule, for
-- the trigger below and for the store's diagnosis of a rejected file.
CREATE FUNCTION reversal_too_early(orig_file bigint, rev_file bigint, rev_cycle bigint) RETURNS boolean LANGUAGE sql STABLE AS $$
  SELECT orig_file = rev_file OR NOT coalesce(cycle_before(file_cycle(orig_file), rev_cycle), false)
$$;

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
  IF reversal_too_early(o.file_id, NEW.file_id, NEW.cycle_id) THEN
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

-- A cycle's reversals, found without reading its payments (they are few):
-- a cycle is netted only once the cycles of its reversals' originals have
-- settled.
CREATE INDEX payments_reversals_cycle ON payments (cycle_id) WHERE kind = 'R';
