-- 0004: current_recon_breaks was created by 0001 as SELECT *, which
-- Postgres expands when the view is made; the note column 0003 added to
-- recon_breaks is therefore not in it. Re-create it with every column.
CREATE OR REPLACE VIEW current_recon_breaks AS
  SELECT DISTINCT ON (break_key) * FROM recon_breaks ORDER BY break_key, id DESC;
GRANT SELECT ON current_recon_breaks TO settle_auditor, settle_service;
