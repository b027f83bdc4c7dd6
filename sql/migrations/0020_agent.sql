-- 0020: the settlement agent, the third side of reconciliation.
--
-- agent_answers: each file the agent uploaded (camt.054 or camt.053 of the
-- scheme's settlement account), taken whole once its signature verified.
-- agent_bookings: each of its entries, naming the instruction it executed
-- by EndToEndId (<cycle>:<BIC>:<currency>) or UETR. Both append-only: an
-- agent's correction is a new file, never an edit.
-- agent_confirmations: the cycle's confirmation by the agent as each
-- reconciliation found it (NOT_YET, PARTLY, CONFIRMED); the latest row is
-- the cycle's. Part of the cycle's record beside its stage, not a stage.
CREATE TABLE agent_answers (
  id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  agent        varchar(11) NOT NULL CHECK (char_length(agent) BETWEEN 8 AND 11),
  name         text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 255),
  sha256       char(64) NOT NULL UNIQUE CHECK (sha256 ~ '^[0-9a-f]{64}$'),
  message      text NOT NULL CHECK (message IN ('camt.054.001.08', 'camt.053.001.08')),
  msg_id       varchar(35) NOT NULL,
  signature_key text NOT NULL,
  entries      integer NOT NULL CHECK (entries >= 0),
  received_at  timestamptz NOT NULL,
  recorded_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE agent_bookings (
  id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  answer_id      bigint NOT NULL REFERENCES agent_answers,
  line           integer NOT NULL CHECK (line > 0),
  account        varchar(34) NOT NULL,
  end_to_end_id  varchar(35),
  uetr           char(36),
  amount         numeric NOT NULL CHECK (amount > 0),
  currency       char(3) NOT NULL CHECK (currency_minor_unit(currency) IS NOT NULL),
  credit         boolean NOT NULL,
  value_date     date,
  status         varchar(35) NOT NULL,
  rejected       varchar(35),
  reversal       boolean NOT NULL DEFAULT false,
  UNIQUE (answer_id, line),
  CHECK (end_to_end_id IS NOT NULL OR uetr IS NOT NULL),
  CHECK (scale(amount) <= coalesce(currency_minor_unit(currency), -1))
);
CREATE INDEX agent_bookings_e2e ON agent_bookings (end_to_end_id text_pattern_ops);
CREATE INDEX agent_bookings_uetr ON agent_bookings (uetr);

CREATE TABLE agent_confirmations (
  id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  cycle_id      bigint NOT NULL REFERENCES cycles,
  status        text NOT NULL CHECK (status IN ('NOT_YET', 'PARTLY', 'CONFIRMED')),
  instructions  integer NOT NULL CHECK (instructions >= 0),
  confirmed     integer NOT NULL CHECK (confirmed BETWEEN 0 AND instructions),
  bookings      integer NOT NULL CHECK (bookings >= 0),
  recorded_at   timestamptz NOT NULL DEFAULT now(),
  CHECK ((status = 'CONFIRMED') = (confirmed = instructions))
);
CREATE INDEX agent_confirmations_cycle ON agent_confirmations (cycle_id, id DESC);

CREATE TRIGGER agent_answers_append_only BEFORE UPDATE OR DELETE ON agent_answers
  FOR EACH ROW EXECUTE FUNCTION forbid_rewrite();
CREATE TRIGGER agent_bookings_append_only BEFORE UPDATE OR DELETE ON agent_bookings
  FOR EACH ROW EXECUTE FUNCTION forbid_rewrite();
CREATE TRIGGER agent_confirmations_append_only BEFORE UPDATE OR DELETE ON agent_confirmations
  FOR EACH ROW EXECUTE FUNCTION forbid_rewrite();

CREATE TRIGGER agent_answers_no_truncate BEFORE TRUNCATE ON agent_answers
  FOR EACH STATEMENT EXECUTE FUNCTION forbid_rewrite();
CREATE TRIGGER agent_bookings_no_truncate BEFORE TRUNCATE ON agent_bookings
  FOR EACH STATEMENT EXECUTE FUNCTION forbid_rewrite();
CREATE TRIGGER agent_confirmations_no_truncate BEFORE TRUNCATE ON agent_confirmations
  FOR EACH STATEMENT EXECUTE FUNCTION forbid_rewrite();

GRANT SELECT, INSERT ON agent_answers, agent_bookings, agent_confirmations TO settle_service;
GRANT SELECT ON agent_answers, agent_bookings, agent_confirmations TO settle_auditor;
