-- 0070: a break may be ACKNOWLEDGED (issue 17): an operator has seen it and
-- owns it before anything is decided (reconciliation.CheckMove: only from
-- OPEN, by an operator; from there it is investigated, resolved, written
-- off with four eyes or closed by a run, never sent back to OPEN).
ALTER TABLE recon_breaks DROP CONSTRAINT recon_breaks_state_check;
ALTER TABLE recon_breaks ADD CONSTRAINT recon_breaks_state_check CHECK (state IN
  ('OPEN', 'ACKNOWLEDGED', 'INVESTIGATING', 'RESOLVED', 'WRITTEN_OFF', 'CLOSED'));
