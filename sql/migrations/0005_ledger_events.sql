-- 0005: the ledger's own events (CycleSettled), as the service receives
-- them, and the block to resume from. An event is recorded once (by its
-- transaction id) and never changed: it is the ledger's word, kept beside
-- what the system itself recorded of the same transaction (ledger_txs).
CREATE TABLE ledger_events (
  tx_id         text PRIMARY KEY CHECK (char_length(tx_id) BETWEEN 1 AND 128),
  block_number  bigint NOT NULL CHECK (block_number >= 0),
  name          text NOT NULL,
  cycle         text,
  payload       jsonb,
  received_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ledger_events_cycle ON ledger_events (cycle);
CREATE TRIGGER ledger_events_append_only BEFORE UPDATE OR DELETE ON ledger_events
  FOR EACH ROW EXECUTE FUNCTION forbid_rewrite();

CREATE TABLE ledger_checkpoints (
  name          text PRIMARY KEY,
  block_number  bigint NOT NULL CHECK (block_number >= 0),
  updated_at    timestamptz NOT NULL DEFAULT now()
);

GRANT SELECT ON ledger_events, ledger_checkpoints TO settle_auditor;
GRANT SELECT, INSERT ON ledger_events, ledger_checkpoints TO settle_service;
GRANT UPDATE (block_number, updated_at) ON ledger_checkpoints TO settle_service;
