-- 0011: every verdict the intake gave a bank, with the exact bytes of the
-- acknowledgement it wrote, recorded in the transaction that records the
-- file (and its payments). A take interrupted after that transaction is
-- finished from here: the acknowledgement is written again byte for byte
-- if it is missing, and never replaced. One row per (bank, file name,
-- bytes): the same file again under the same name finishes the earlier
-- take instead of being rejected. ack_name is unique per bank, so that a
-- different file under a reused name gets a verdict under a name of its
-- own (<name>.<16 hex of its sha256>.ack.json) and no ack is overwritten.
CREATE TABLE acknowledgements (
  id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  bank        varchar(11) NOT NULL CHECK (char_length(bank) BETWEEN 1 AND 11),
  file_name   text NOT NULL CHECK (char_length(file_name) BETWEEN 1 AND 255),
  sha256      char(64) NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
  ack_name    text NOT NULL CHECK (char_length(ack_name) BETWEEN 1 AND 255),
  -- NULL only for acknowledgements written before this migration, whose
  -- bytes were not kept: they are never written again.
  verdict     bytea CHECK (verdict IS NULL OR octet_length(verdict) BETWEEN 1 AND 16777216),
  file_row    bigint REFERENCES files,
  recorded_at timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT acknowledgements_take_key UNIQUE (bank, file_name, sha256),
  CONSTRAINT acknowledgements_name_key UNIQUE (bank, ack_name)
);

CREATE TRIGGER acknowledgements_append_only BEFORE UPDATE OR DELETE ON acknowledgements
  FOR EACH ROW EXECUTE FUNCTION forbid_rewrite();
CREATE TRIGGER acknowledgements_no_truncate BEFORE TRUNCATE ON acknowledgements
  FOR EACH STATEMENT EXECUTE FUNCTION forbid_rewrite();

-- A bank's files are its own: the same bytes from another bank are that
-- bank's file, judged on their own (its sender check refuses them), and
-- never reported to it as a duplicate of a file it cannot see.
ALTER TABLE files DROP CONSTRAINT files_sha256_key,
  ADD CONSTRAINT files_sender_sha256_key UNIQUE (sender, sha256);

-- Acknowledgements written before this migration hold their names.
INSERT INTO acknowledgements (bank, file_name, sha256, ack_name, file_row)
SELECT sender, name, sha256, name || '.ack.json', id FROM files
WHERE acknowledged_at IS NOT NULL
ORDER BY id
ON CONFLICT DO NOTHING;

GRANT SELECT ON acknowledgements TO settle_auditor;
GRANT SELECT, INSERT ON acknowledgements TO settle_service;
GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO settle_service;
