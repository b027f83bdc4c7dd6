-- 0001: the operational record of settle. See adapters/postgres for the code
-- that writes it, and sql/migrations/doc.go for the rules of this folder.

-- currency_minor_unit is ISO 4217's number of decimals for the currencies
-- settlement.Currencies() knows (a test keeps the two in step), NULL for any
-- other code. It is a function of literals, so IMMUTABLE is true and CHECK
-- constraints may use it; a change of the list is a new migration that
-- replaces it. IN lists this long are hashed by the executor.
CREATE FUNCTION currency_minor_unit(code char(3)) RETURNS smallint
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
SELECT CASE
  WHEN code IN ('AED','AFN','ALL','AMD','AOA','ARS','AUD','AWG','AZN','BAM','BBD','BDT','BMD','BND','BOB','BOV','BRL','BSD','BTN','BWP','BYN','BZD','CAD','CDF','CHE','CHF','CHW','CNY','COP','COU','CRC','CUP','CVE','CZK','DKK','DOP','DZD','EGP','ERN','ETB','EUR','FJD','FKP','GBP','GEL','GHS','GIP','GMD','GTQ','GYD','HKD','HNL','HTG','HUF','IDR','ILS','INR','IRR','JMD','KES','KGS','KHR','KPW','KYD','KZT','LAK','LBP','LKR','LRD','LSL','MAD','MDL','MGA','MKD','MMK','MNT','MOP','MRU','MUR','MVR','MWK','MXN','MXV','MYR','MZN','NAD','NGN','NIO','NOK','NPR','NZD','PAB','PEN','PGK','PHP','PKR','PLN','QAR','RON','RSD','RUB','SAR','SBD','SCR','SDG','SEK','SGD','SHP','SLE','SOS','SRD','SSP','STN','SVC','SYP','SZL','THB','TJS','TMT','TOP','TRY','TTD','TWD','TZS','UAH','USD','USN','UYU','UZS','VED','VES','WST','XCD','XCG','YER','ZAR','ZMW','ZWG') THEN 2
  WHEN code IN ('BIF','CLP','DJF','GNF','ISK','JPY','KMF','KRW','PYG','RWF','UGX','UYI','VND','VUV','XAF','XOF','XPF') THEN 0
  WHEN code IN ('BHD','IQD','JOD','KWD','LYD','OMR','TND') THEN 3
  WHEN code IN ('CLF','UYW') THEN 4
END::smallint
$$;

-- money_fits tells whether amount is an amount of the currency as the spec
-- defines it: positive (or zero where allow_zero), at most 18 integer
-- digits, and no more decimals than the currency's minor unit. Amounts are
-- NUMERIC without a typmod on purpose: the allowed scale depends on another
-- column, which a typmod cannot express, and NUMERIC(38,4) would pad every
-- KRW amount with four zeros while still admitting 12.345 USD.
CREATE FUNCTION money_fits(amount numeric, currency char(3), allow_zero boolean) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
SELECT amount IS NOT NULL
   AND (amount > 0 OR (allow_zero AND amount = 0))
   AND amount < 1e18
   AND scale(amount) <= coalesce(currency_minor_unit(currency), -1)
$$;

-- forbid_rewrite guards append-only tables: money moves only by appending,
-- a correction is a new row that points at the one it corrects. It fires
-- for the table owner and for superusers too; only disabling the trigger,
-- a deliberate and logged DDL act, gets around it.
CREATE FUNCTION forbid_rewrite() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION '% on % refused: this table is append-only', TG_OP, TG_TABLE_NAME
    USING ERRCODE = 'restrict_violation',
          HINT = 'record a correction as a new row';
END
$$;

CREATE TABLE banks (
  bic         varchar(11) PRIMARY KEY
              CHECK (bic ~ '^[A-Z]{6}[A-Z0-9]{2}([A-Z0-9]{3})?$' AND bic !~ '^.{8}XXX$'),
  name        text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 140),
  status      text NOT NULL DEFAULT 'ACTIVE' CHECK (status IN ('ACTIVE', 'SUSPENDED', 'LEFT')),
  ledger_msp  text CHECK (char_length(ledger_msp) BETWEEN 1 AND 64),
  created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE bank_keys (
  id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  bank        varchar(11) NOT NULL REFERENCES banks,
  label       text NOT NULL CHECK (label ~ '^[A-Za-z0-9._-]{1,64}$'),
  key_type    text NOT NULL CHECK (key_type IN ('ed25519', 'ecdsa-p256')),
  pem         text NOT NULL CHECK (pem LIKE '-----BEGIN PUBLIC KEY-----%' AND char_length(pem) <= 4096),
  valid_from  timestamptz NOT NULL DEFAULT now(),
  valid_to    timestamptz,
  revoked_at  timestamptz,
  created_at  timestamptz NOT NULL DEFAULT now(),
  UNIQUE (bank, label),
  CHECK (valid_to IS NULL OR valid_to > valid_from)
);

-- A key may only be revoked (once) or have its end set; its bytes never change.
CREATE FUNCTION bank_keys_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP <> 'UPDATE'
     OR NEW.id <> OLD.id OR NEW.bank <> OLD.bank OR NEW.label <> OLD.label
     OR NEW.key_type <> OLD.key_type OR NEW.pem <> OLD.pem OR NEW.valid_from <> OLD.valid_from
     OR NEW.created_at <> OLD.created_at
     OR (OLD.revoked_at IS NOT NULL AND NEW.revoked_at IS DISTINCT FROM OLD.revoked_at) THEN
    RAISE EXCEPTION '% on bank_keys refused: a key is only ever revoked', TG_OP
      USING ERRCODE = 'restrict_violation';
  END IF;
  RETURN NEW;
END
$$;
CREATE TRIGGER bank_keys_guard BEFORE UPDATE OR DELETE ON bank_keys
  FOR EACH ROW EXECUTE FUNCTION bank_keys_guard();
CREATE TRIGGER bank_keys_no_truncate BEFORE TRUNCATE ON bank_keys
  FOR EACH STATEMENT EXECUTE FUNCTION forbid_rewrite();

-- Net debit caps: a new cap is a new row; the latest effective one wins.
CREATE TABLE net_debit_caps (
  id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  bank            varchar(11) NOT NULL REFERENCES banks,
  currency        char(3) NOT NULL CHECK (currency_minor_unit(currency) IS NOT NULL),
  amount          numeric NOT NULL CHECK (money_fits(amount, currency, true)),
  effective_from  timestamptz NOT NULL DEFAULT now(),
  created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX net_debit_caps_current ON net_debit_caps (bank, currency, effective_from DESC, id DESC);
CREATE TRIGGER net_debit_caps_append_only BEFORE UPDATE OR DELETE ON net_debit_caps
  FOR EACH ROW EXECUTE FUNCTION forbid_rewrite();
CREATE TRIGGER net_debit_caps_no_truncate BEFORE TRUNCATE ON net_debit_caps
  FOR EACH STATEMENT EXECUTE FUNCTION forbid_rewrite();
CREATE VIEW current_net_debit_caps AS
  SELECT DISTINCT ON (bank, currency) bank, currency, amount, effective_from
  FROM net_debit_caps
  WHERE effective_from <= now()
  ORDER BY bank, currency, effective_from DESC, id DESC;

CREATE TABLE cycles (
  id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  business_date  date NOT NULL,
  seq            smallint NOT NULL DEFAULT 1 CHECK (seq > 0),
  state          text NOT NULL DEFAULT 'OPEN'
                 CHECK (state IN ('OPEN', 'CLOSED', 'NETTED', 'SETTLED', 'RECONCILED', 'FAILED')),
  opened_at      timestamptz NOT NULL DEFAULT now(),
  closed_at      timestamptz,
  netted_at      timestamptz,
  settled_at     timestamptz,
  reconciled_at  timestamptz,
  failed_at      timestamptz,
  UNIQUE (business_date, seq)
);

-- Every file taken from a bank, accepted or rejected. A rejected file's row
-- is kept with its problems (the acknowledgement's errors); its payments are
-- not. file_id and sha256 are unique for all time: re-sending a file is a
-- duplicate, never a second copy.
CREATE TABLE files (
  id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  sender           varchar(11) NOT NULL CHECK (char_length(sender) BETWEEN 1 AND 11),
  file_id          varchar(35),
  name             text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 255),
  sha256           char(64) NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
  size_bytes       bigint NOT NULL CHECK (size_bytes >= 0),
  signature_key    text,
  status           text NOT NULL CHECK (status IN ('ACCEPTED', 'REJECTED')),
  problems         jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(problems) = 'array'),
  entries          bigint CHECK (entries >= 0),
  control_sum      numeric CHECK (control_sum >= 0),
  business_date    date,
  cycle_id         bigint REFERENCES cycles,
  received_at      timestamptz NOT NULL,
  acknowledged_at  timestamptz,
  recorded_at      timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT files_sender_file_id_key UNIQUE (sender, file_id),
  CONSTRAINT files_sha256_key UNIQUE (sha256),
  CHECK (status = 'REJECTED' OR (file_id IS NOT NULL AND cycle_id IS NOT NULL
         AND business_date IS NOT NULL AND entries IS NOT NULL AND problems = '[]')),
  CHECK (status = 'ACCEPTED' OR problems <> '[]')
);
CREATE INDEX files_cycle ON files (cycle_id) WHERE cycle_id IS NOT NULL;

-- A file row may only get its acknowledgement time, once.
CREATE FUNCTION files_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'UPDATE' AND OLD.acknowledged_at IS NULL
     AND (to_jsonb(NEW) - 'acknowledged_at') = (to_jsonb(OLD) - 'acknowledged_at') THEN
    RETURN NEW;
  END IF;
  RAISE EXCEPTION '% on files refused: a received file is only ever acknowledged', TG_OP
    USING ERRCODE = 'restrict_violation';
END
$$;
CREATE TRIGGER files_guard BEFORE UPDATE OR DELETE ON files
  FOR EACH ROW EXECUTE FUNCTION files_guard();
CREATE TRIGGER files_no_truncate BEFORE TRUNCATE ON files
  FOR EACH STATEMENT EXECUTE FUNCTION forbid_rewrite();

-- Payments and reversals share one table, so that (sender, payment_id) is
-- one id space per sender by a plain unique index. Row-level foreign keys
-- to files and banks are replaced by one statement-level check
-- (payments_check_batch): a per-row RI trigger costs about as much as the
-- insert itself on a million-row COPY.
--
-- The unique constraints are DEFERRABLE (INITIALLY IMMEDIATE, so every
-- other writer gets them at once): the ingest defers them, streams the file
-- with COPY, then checks; only when a check fails does it list every bad
-- line with set-based queries, and then rolls the whole file back.
CREATE TABLE payments (
  file_id              bigint NOT NULL,
  line                 integer NOT NULL CHECK (line > 0),
  cycle_id             bigint NOT NULL,
  sender               varchar(11) NOT NULL,
  payment_id           varchar(35) NOT NULL,
  kind                 char(1) NOT NULL CHECK (kind IN ('P', 'R')),
  debtor               varchar(11) NOT NULL,
  creditor             varchar(11) NOT NULL,
  amount               numeric NOT NULL,
  currency             char(3) NOT NULL,
  original_payment_id  varchar(35),
  reason               char(4),
  remittance           varchar(140),
  recorded_at          timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (file_id, line),
  CONSTRAINT payments_sender_payment_id_key UNIQUE (sender, payment_id) DEFERRABLE INITIALLY IMMEDIATE,
  CONSTRAINT payments_sender_original_key UNIQUE (sender, original_payment_id) DEFERRABLE INITIALLY IMMEDIATE,
  CONSTRAINT payments_amount_check CHECK (money_fits(amount, currency, false)),
  CONSTRAINT payments_debtor_is_sender CHECK (debtor = sender),
  CONSTRAINT payments_not_self CHECK (debtor <> creditor),
  CONSTRAINT payments_kind_fields CHECK (
    (kind = 'P' AND original_payment_id IS NULL AND reason IS NULL) OR
    (kind = 'R' AND original_payment_id IS NOT NULL AND reason IS NOT NULL AND remittance IS NULL
     AND original_payment_id <> payment_id))
);

-- payments_check_batch checks what would otherwise be row-level foreign
-- keys, once per statement: every row belongs to an ACCEPTED file of the
-- same sender and cycle, and names member banks only.
CREATE FUNCTION payments_check_batch() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  bad record;
BEGIN
  SELECT n.file_id, n.sender, n.creditor INTO bad
  FROM (SELECT DISTINCT file_id, cycle_id, sender, creditor FROM new_rows) n
  LEFT JOIN files f ON f.id = n.file_id AND f.status = 'ACCEPTED'
                   AND f.sender = n.sender AND f.cycle_id = n.cycle_id
  LEFT JOIN banks s ON s.bic = n.sender
  LEFT JOIN banks c ON c.bic = n.creditor
  WHERE f.id IS NULL OR s.bic IS NULL OR c.bic IS NULL
  LIMIT 1;
  IF FOUND THEN
    RAISE EXCEPTION 'payments of file % (sender %, creditor %): no such accepted file of that sender and cycle, or not member banks',
      bad.file_id, bad.sender, bad.creditor
      USING ERRCODE = 'foreign_key_violation';
  END IF;
  RETURN NULL;
END
$$;
CREATE TRIGGER payments_check_batch AFTER INSERT ON payments
  REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION payments_check_batch();

-- payments_check_reversal holds a reversal to the spec: its original is a
-- payment (not a reversal) of the same sender, in another file and an
-- earlier cycle (so it was settled), and the reversal repeats its debtor,
-- creditor, amount and currency. "At most once" is the unique constraint
-- on (sender, original_payment_id). Deferrable like the unique constraints.
CREATE FUNCTION payments_check_reversal() RETURNS trigger LANGUAGE plpgsql AS $$
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
  IF o.file_id = NEW.file_id OR o.cycle_id >= NEW.cycle_id THEN
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
CREATE CONSTRAINT TRIGGER payments_check_reversal AFTER INSERT ON payments
  DEFERRABLE INITIALLY IMMEDIATE
  FOR EACH ROW WHEN (NEW.kind = 'R') EXECUTE FUNCTION payments_check_reversal();

CREATE TRIGGER payments_append_only BEFORE UPDATE OR DELETE ON payments
  FOR EACH ROW EXECUTE FUNCTION forbid_rewrite();
CREATE TRIGGER payments_no_truncate BEFORE TRUNCATE ON payments
  FOR EACH STATEMENT EXECUTE FUNCTION forbid_rewrite();

-- Net positions and bilateral obligations of a cycle. A recomputation is a
-- new revision; the highest revision of a cycle is the one that counts.
CREATE TABLE net_positions (
  cycle_id     bigint NOT NULL REFERENCES cycles,
  revision     integer NOT NULL DEFAULT 1 CHECK (revision > 0),
  bank         varchar(11) NOT NULL REFERENCES banks,
  currency     char(3) NOT NULL CHECK (currency_minor_unit(currency) IS NOT NULL),
  sent         numeric NOT NULL CHECK (sent >= 0 AND scale(sent) <= currency_minor_unit(currency)),
  received     numeric NOT NULL CHECK (received >= 0 AND scale(received) <= currency_minor_unit(currency)),
  net          numeric NOT NULL CHECK (scale(net) <= currency_minor_unit(currency)),
  recorded_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (cycle_id, revision, currency, bank),
  CHECK (net = received - sent)
);
CREATE TRIGGER net_positions_append_only BEFORE UPDATE OR DELETE ON net_positions
  FOR EACH ROW EXECUTE FUNCTION forbid_rewrite();
CREATE TRIGGER net_positions_no_truncate BEFORE TRUNCATE ON net_positions
  FOR EACH STATEMENT EXECUTE FUNCTION forbid_rewrite();

CREATE TABLE obligations (
  cycle_id     bigint NOT NULL REFERENCES cycles,
  revision     integer NOT NULL DEFAULT 1 CHECK (revision > 0),
  debtor       varchar(11) NOT NULL REFERENCES banks,
  creditor     varchar(11) NOT NULL REFERENCES banks,
  currency     char(3) NOT NULL,
  amount       numeric NOT NULL CHECK (money_fits(amount, currency, false)),
  recorded_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (cycle_id, revision, currency, debtor, creditor),
  CHECK (debtor <> creditor)
);
CREATE TRIGGER obligations_append_only BEFORE UPDATE OR DELETE ON obligations
  FOR EACH ROW EXECUTE FUNCTION forbid_rewrite();
CREATE TRIGGER obligations_no_truncate BEFORE TRUNCATE ON obligations
  FOR EACH STATEMENT EXECUTE FUNCTION forbid_rewrite();

-- Ledger transactions: what the system wrote to the shared ledger, and
-- where it landed.
CREATE TABLE ledger_txs (
  id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  cycle_id        bigint NOT NULL REFERENCES cycles,
  tx_id           text NOT NULL UNIQUE CHECK (char_length(tx_id) BETWEEN 1 AND 128),
  block_number    bigint CHECK (block_number >= 0),
  channel         text NOT NULL,
  chaincode       text NOT NULL,
  function        text NOT NULL,
  payload         jsonb NOT NULL,
  payload_sha256  char(64) NOT NULL CHECK (payload_sha256 ~ '^[0-9a-f]{64}$'),
  status          text NOT NULL CHECK (status IN ('COMMITTED', 'INVALID')),
  committed_at    timestamptz,
  recorded_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ledger_txs_cycle ON ledger_txs (cycle_id);
CREATE TRIGGER ledger_txs_append_only BEFORE UPDATE OR DELETE ON ledger_txs
  FOR EACH ROW EXECUTE FUNCTION forbid_rewrite();
CREATE TRIGGER ledger_txs_no_truncate BEFORE TRUNCATE ON ledger_txs
  FOR EACH STATEMENT EXECUTE FUNCTION forbid_rewrite();

-- Reconciliation breaks: each row is one step of a break's life; the
-- latest row of a break_key is its state.
CREATE TABLE recon_breaks (
  id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  break_key    text NOT NULL CHECK (char_length(break_key) BETWEEN 1 AND 200),
  cycle_id     bigint REFERENCES cycles,
  kind         text NOT NULL CHECK (char_length(kind) BETWEEN 1 AND 64),
  state        text NOT NULL CHECK (state IN ('OPEN', 'INVESTIGATING', 'RESOLVED', 'WRITTEN_OFF')),
  bank         varchar(11),
  currency     char(3) CHECK (currency IS NULL OR currency_minor_unit(currency) IS NOT NULL),
  expected     numeric,
  actual       numeric,
  detail       jsonb NOT NULL DEFAULT '{}',
  actor        text NOT NULL,
  recorded_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX recon_breaks_key ON recon_breaks (break_key, id DESC);
CREATE VIEW current_recon_breaks AS
  SELECT DISTINCT ON (break_key) * FROM recon_breaks ORDER BY break_key, id DESC;
CREATE TRIGGER recon_breaks_append_only BEFORE UPDATE OR DELETE ON recon_breaks
  FOR EACH ROW EXECUTE FUNCTION forbid_rewrite();
CREATE TRIGGER recon_breaks_no_truncate BEFORE TRUNCATE ON recon_breaks
  FOR EACH STATEMENT EXECUTE FUNCTION forbid_rewrite();

CREATE TABLE job_runs (
  id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  job          text NOT NULL CHECK (char_length(job) BETWEEN 1 AND 64),
  cycle_id     bigint REFERENCES cycles,
  status       text NOT NULL DEFAULT 'RUNNING' CHECK (status IN ('RUNNING', 'OK', 'FAILED')),
  started_at   timestamptz NOT NULL DEFAULT now(),
  finished_at  timestamptz,
  detail       jsonb NOT NULL DEFAULT '{}',
  CHECK ((status = 'RUNNING') = (finished_at IS NULL))
);
CREATE INDEX job_runs_job ON job_runs (job, started_at DESC);

-- The outbox: events written in the same transaction as the state they
-- announce, published later.
CREATE TABLE outbox (
  id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  topic         text NOT NULL CHECK (char_length(topic) BETWEEN 1 AND 128),
  event_key     text,
  payload       jsonb NOT NULL,
  created_at    timestamptz NOT NULL DEFAULT now(),
  published_at  timestamptz
);
CREATE INDEX outbox_unpublished ON outbox (id) WHERE published_at IS NULL;
