-- 0012: the status report (pacs.002.001.10, <file>.ack.xml) that the
-- intake writes beside every acknowledgement, saying the same verdict. Its
-- exact bytes are recorded with the verdict's, in the same row and so in
-- the transaction that records the file: a take interrupted after that
-- transaction writes both again byte for byte, the report first, and
-- replaces neither. The report's outbox name is the acknowledgement's with
-- .ack.xml for .ack.json, so ack_name's uniqueness per bank covers it.
--
-- The row stays append-only: the triggers of 0011 refuse any UPDATE,
-- DELETE or TRUNCATE, of this column as of the others, and adding a
-- nullable column rewrites no row.
ALTER TABLE acknowledgements
  -- NULL for verdicts recorded before this migration (and for those
  -- written before 0011, which have no bytes at all): they have no report.
  ADD COLUMN report bytea CHECK (report IS NULL OR octet_length(report) BETWEEN 1 AND 16777216),
  ADD CONSTRAINT acknowledgements_report_with_verdict CHECK (report IS NULL OR verdict IS NOT NULL);
