-- 0080: the ledger's gridlock resolution defers single payments (issue 19).
-- When a cycle's nets break caps, the chaincode defers what does not fit,
-- payment by payment, to the next cycle not netted yet, and writes one
-- record per cycle; the service keeps each move here, in the transaction
-- that marks the cycle settled (jobs.CycleTx.SaveResolution). The payment
-- and its file are never edited: a move is a row of its own, and a
-- payment settles in the cycle its latest move went to, or in its file's
-- cycle (payment_cycle). A block of numbers of its own (0080..), as the
-- folder's rules allow.
--
-- The payments table's key is (file_id, line); (sender, payment_id) is
-- unique too but deferrable, so a foreign key cannot name it.
CREATE TABLE payment_deferrals (
  id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  file_row     bigint NOT NULL,
  line         integer NOT NULL,
  from_cycle   bigint NOT NULL REFERENCES cycles,
  to_cycle     bigint NOT NULL REFERENCES cycles,
  seq          integer NOT NULL CHECK (seq >= 0),   -- its place in the ledger's record of from_cycle
  times        integer NOT NULL CHECK (times >= 1), -- the cycles that deferred it so far, from_cycle included
  waiting      boolean NOT NULL,                    -- a reversal waiting with its deferred original
  ledger_tx    text NOT NULL CHECK (char_length(ledger_tx) BETWEEN 1 AND 128),
  recorded_at  timestamptz NOT NULL DEFAULT now(),
  FOREIGN KEY (file_row, line) REFERENCES payments (file_id, line),
  CHECK (from_cycle <> to_cycle),
  UNIQUE (file_row, line, from_cycle),
  UNIQUE (from_cycle, seq)
);
CREATE INDEX payment_deferrals_payment ON payment_deferrals (file_row, line, id);
CREATE INDEX payment_deferrals_to ON payment_deferrals (to_cycle);
CREATE TRIGGER payment_deferrals_append_only BEFORE UPDATE OR DELETE ON payment_deferrals
  FOR EACH ROW EXECUTE FUNCTION forbid_rewrite();
CREATE TRIGGER payment_deferrals_no_truncate BEFORE TRUNCATE ON payment_deferrals
  FOR EACH STATEMENT EXECUTE FUNCTION forbid_rewrite();
GRANT SELECT ON payment_deferrals TO settle_auditor;
GRANT SELECT, INSERT ON payment_deferrals TO settle_service;

-- The second wall behind the store's checks, once per statement (a
-- resolution is one INSERT of up to tens of thousands of rows): a move
-- goes to a later cycle, and from the cycle the payment was in just
-- before it (its previous move's target, or its file's cycle).
CREATE FUNCTION payment_deferrals_check() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  bad record;
BEGIN
  WITH file_cycles AS MATERIALIZED ( -- once a file, not once a row
    SELECT x.file_row, file_cycle(x.file_row) AS cycle FROM (SELECT DISTINCT file_row FROM new_rows) x)
  SELECT n.file_row, n.line, n.from_cycle, n.to_cycle,
         (fc.business_date, fc.seq) >= (tc.business_date, tc.seq) AS backwards INTO bad
  FROM new_rows n
  JOIN file_cycles f ON f.file_row = n.file_row
  JOIN cycles fc ON fc.id = n.from_cycle
  JOIN cycles tc ON tc.id = n.to_cycle
  LEFT JOIN LATERAL (
    SELECT d.to_cycle FROM payment_deferrals d
    WHERE d.file_row = n.file_row AND d.line = n.line AND d.id < n.id
    ORDER BY d.id DESC LIMIT 1) prev ON true
  WHERE (fc.business_date, fc.seq) >= (tc.business_date, tc.seq)
     OR coalesce(prev.to_cycle, f.cycle) <> n.from_cycle
  LIMIT 1;
  IF FOUND AND bad.backwards THEN
    RAISE EXCEPTION 'PAYMENT_DEFERRAL_ORDER: payment at file % line %: cycle % is not after cycle %',
      bad.file_row, bad.line, bad.to_cycle, bad.from_cycle
      USING ERRCODE = 'check_violation';
  ELSIF FOUND THEN
    RAISE EXCEPTION 'PAYMENT_NOT_IN_CYCLE: payment at file % line % is not in cycle %',
      bad.file_row, bad.line, bad.from_cycle
      USING ERRCODE = 'check_violation';
  END IF;
  RETURN NULL;
END
$$;
CREATE TRIGGER payment_deferrals_check AFTER INSERT ON payment_deferrals
  REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION payment_deferrals_check();

-- The cycle a payment (or reversal) settles in now: its latest move's
-- target, or its file's cycle.
CREATE FUNCTION payment_cycle(f bigint, l integer) RETURNS bigint LANGUAGE sql STABLE AS $$
  SELECT coalesce(
    (SELECT d.to_cycle FROM payment_deferrals d WHERE d.file_row = f AND d.line = l ORDER BY d.id DESC LIMIT 1),
    file_cycle(f))
$$;

-- Whether a reversal in file rev_file, cycle rev_cycle, comes too early
-- for its original at (orig_file, orig_line): the same file, or a cycle
-- not after the one the original settles in, counting its file's
-- deferrals and its own moves. A payment carried into a cycle is not
-- settled before it: a reversal of it goes to a later one. The one rule,
-- for the trigger below and for the store's diagnosis of a rejected file
-- and its deferral checks. (The three-argument reversal_too_early of 0009,
-- which counts file deferrals only, stays for a binary of before this
-- migration; nothing of this one calls it.)
CREATE FUNCTION reversal_too_early(orig_file bigint, orig_line integer, rev_file bigint, rev_cycle bigint) RETURNS boolean LANGUAGE sql STABLE AS $$
  SELECT orig_file = rev_file OR NOT coalesce(cycle_before(payment_cycle(orig_file, orig_line), rev_cycle), false)
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
  IF reversal_too_early(o.file_id, o.line, NEW.file_id, NEW.cycle_id) THEN
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
