-- 0006: why a cycle stopped. Every failed attempt at a stage is kept (the
-- operator's `settle cycle status` shows them); a later success does not
-- remove them.
CREATE TABLE cycle_step_errors (
  id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  cycle_id  bigint NOT NULL REFERENCES cycles,
  stage     text NOT NULL,
  error     text NOT NULL CHECK (char_length(error) <= 4000),
  actor     text NOT NULL,
  at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX cycle_step_errors_cycle ON cycle_step_errors (cycle_id, id);
CREATE TRIGGER cycle_step_errors_append_only BEFORE UPDATE OR DELETE ON cycle_step_errors
  FOR EACH ROW EXECUTE FUNCTION forbid_rewrite();
GRANT SELECT ON cycle_step_errors TO settle_auditor;
GRANT SELECT, INSERT ON cycle_step_errors TO settle_service;
