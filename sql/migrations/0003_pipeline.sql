-- 0003: what the nightly pipeline records beyond the intake: the cycle's
-- stages as an append-only log, ledger transactions per chunk, cap breaches,
-- reconciliation runs, break states closed by a re-run, and claims of
-- scheduled runs. The pipeline's events go through watermill's own tables
-- (the transactional outbox), so the hand-made outbox table goes.

-- Stages of settlement.Stage. CLOSED and FAILED stay valid for old rows.
ALTER TABLE cycles DROP CONSTRAINT cycles_state_check;
ALTER TABLE cycles ADD CONSTRAINT cycles_state_check CHECK (state IN
  ('OPEN', 'FROZEN', 'NETTED', 'RECORDED', 'SETTLED', 'RECONCILED', 'REPORTED', 'CLOSED', 'FAILED'));
ALTER TABLE cycles ADD COLUMN stage_at timestamptz;

-- cycle_stages is every transition of every cycle, with the event that
-- announced it: the audit trail of the nightly run.
CREATE TABLE cycle_stages (
  id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  cycle_id    bigint NOT NULL REFERENCES cycles,
  from_stage  text NOT NULL,
  to_stage    text NOT NULL,
  event_id    text NOT NULL,
  actor       text NOT NULL,
  at          timestamptz NOT NULL DEFAULT now(),
  UNIQUE (cycle_id, to_stage)
);
CREATE TRIGGER cycle_stages_append_only BEFORE UPDATE OR DELETE ON cycle_stages
  FOR EACH ROW EXECUTE FUNCTION forbid_rewrite();
CREATE TRIGGER cycle_stages_no_truncate BEFORE TRUNCATE ON cycle_stages
  FOR EACH STATEMENT EXECUTE FUNCTION forbid_rewrite();

-- The pipeline reads a cycle's entries in (sender, payment id) byte order
-- for netting, chunking and reconciliation.
CREATE INDEX payments_cycle_order ON payments (cycle_id, sender COLLATE "C", payment_id COLLATE "C");

-- A ledger transaction is known by the chunk it carried ("settle" for the
-- settling one): at most one per chunk of a cycle.
ALTER TABLE ledger_txs ADD COLUMN chunk_id text;
ALTER TABLE ledger_txs ADD COLUMN entries integer NOT NULL DEFAULT 0 CHECK (entries >= 0);
ALTER TABLE ledger_txs ADD COLUMN endorsers text[] NOT NULL DEFAULT '{}';
ALTER TABLE ledger_txs ADD CONSTRAINT ledger_txs_cycle_chunk_key UNIQUE (cycle_id, chunk_id);

CREATE TABLE cap_breaches (
  cycle_id     bigint NOT NULL REFERENCES cycles,
  revision     integer NOT NULL,
  bank         varchar(11) NOT NULL,
  currency     char(3) NOT NULL,
  net          numeric NOT NULL,
  cap          numeric NOT NULL,
  recorded_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (cycle_id, revision, currency, bank)
);
CREATE TRIGGER cap_breaches_append_only BEFORE UPDATE OR DELETE ON cap_breaches
  FOR EACH ROW EXECUTE FUNCTION forbid_rewrite();

-- A break no longer found by a re-run is CLOSED (not deleted, not edited).
ALTER TABLE recon_breaks DROP CONSTRAINT recon_breaks_state_check;
ALTER TABLE recon_breaks ADD CONSTRAINT recon_breaks_state_check CHECK (state IN
  ('OPEN', 'INVESTIGATING', 'RESOLVED', 'WRITTEN_OFF', 'CLOSED'));
ALTER TABLE recon_breaks ADD COLUMN note text;
CREATE INDEX recon_breaks_cycle ON recon_breaks (cycle_id, break_key);

CREATE TABLE recon_runs (
  id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  cycle_id        bigint NOT NULL REFERENCES cycles,
  store_records   bigint NOT NULL,
  ledger_records  bigint NOT NULL,
  matched         bigint NOT NULL,
  breaks          bigint NOT NULL,
  opened          integer NOT NULL,
  closed          integer NOT NULL,
  at              timestamptz NOT NULL DEFAULT now()
);
CREATE TRIGGER recon_runs_append_only BEFORE UPDATE OR DELETE ON recon_runs
  FOR EACH ROW EXECUTE FUNCTION forbid_rewrite();

-- A scheduled run is claimed by (job, scheduled time): two instances firing
-- for the same minute run it once.
ALTER TABLE job_runs ADD COLUMN scheduled_at timestamptz;
ALTER TABLE job_runs ADD COLUMN owner text;
ALTER TABLE job_runs DROP CONSTRAINT job_runs_status_check;
ALTER TABLE job_runs ADD CONSTRAINT job_runs_status_check CHECK (status IN ('RUNNING', 'OK', 'FAILED', 'SKIPPED'));
CREATE UNIQUE INDEX job_runs_claim ON job_runs (job, scheduled_at) WHERE scheduled_at IS NOT NULL;

DROP TABLE outbox;

GRANT SELECT ON cycle_stages, cap_breaches, recon_runs TO settle_auditor;
GRANT SELECT, INSERT ON cycle_stages, cap_breaches, recon_runs TO settle_service;
GRANT UPDATE (state, stage_at) ON cycles TO settle_service;
GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO settle_service;
