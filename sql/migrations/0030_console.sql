-- 0030: the web console (issue 17): its accounts, server-side sessions,
-- the append-only log of every console action, and four eyes on money:
-- an action that moves or writes off money is a request by one operator
-- and a decision by another, both kept.

-- Console accounts. The password is kept only as an argon2id hash in the
-- PHC string format ($argon2id$v=19$m=...,t=...,p=...$salt$hash).
CREATE TABLE console_users (
  id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  name          text NOT NULL UNIQUE CHECK (name ~ '^[a-z][a-z0-9._-]{1,31}$'),
  role          text NOT NULL CHECK (role IN ('operator', 'auditor', 'viewer')),
  password_hash text NOT NULL CHECK (password_hash LIKE '$argon2id$%'),
  created_at    timestamptz NOT NULL,
  disabled_at   timestamptz
);

-- Server-side sessions. The cookie carries a random token; only its
-- SHA-256 is stored, so a copy of this table opens no session. A session
-- ends at logout (ended_at) or after inactivity (last_seen).
CREATE TABLE console_sessions (
  token_sha256 bytea PRIMARY KEY CHECK (octet_length(token_sha256) = 32),
  user_id      bigint NOT NULL REFERENCES console_users,
  csrf_token   text NOT NULL CHECK (char_length(csrf_token) BETWEEN 32 AND 128),
  source       text NOT NULL,
  created_at   timestamptz NOT NULL,
  last_seen    timestamptz NOT NULL,
  ended_at     timestamptz
);
CREATE INDEX console_sessions_user ON console_sessions (user_id);

-- Every console action: who, when, from where, what, and the outcome.
-- Append-only, like the money tables.
CREATE TABLE console_actions (
  id       bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  at       timestamptz NOT NULL,
  actor    text NOT NULL CHECK (char_length(actor) BETWEEN 1 AND 64),
  role     text NOT NULL CHECK (char_length(role) BETWEEN 1 AND 16),
  source   text NOT NULL CHECK (char_length(source) <= 64),
  action   text NOT NULL CHECK (char_length(action) BETWEEN 1 AND 64),
  subject  text NOT NULL DEFAULT '' CHECK (char_length(subject) <= 256),
  outcome  text NOT NULL CHECK (char_length(outcome) BETWEEN 1 AND 16),
  detail   text NOT NULL DEFAULT '' CHECK (char_length(detail) <= 2000)
);
CREATE TRIGGER console_actions_append_only BEFORE UPDATE OR DELETE ON console_actions
  FOR EACH ROW EXECUTE FUNCTION forbid_rewrite();
CREATE TRIGGER console_actions_no_truncate BEFORE TRUNCATE ON console_actions
  FOR EACH STATEMENT EXECUTE FUNCTION forbid_rewrite();

-- Four eyes: a request to do something to money, and at most one decision
-- on it by a different operator. Both append-only; the decision's check
-- repeats the rule the application applies (approval.Request.Decide), the
-- second wall.
CREATE TABLE approval_requests (
  id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  action       text NOT NULL CHECK (action IN ('break.write_off', 'cap.raise')),
  subject      text NOT NULL CHECK (char_length(subject) BETWEEN 1 AND 200), -- a break key, or BIC/CUR
  amount       numeric CHECK (amount IS NULL OR amount >= 0),                 -- the new cap
  CHECK ((action = 'cap.raise') = (amount IS NOT NULL)),
  note         text NOT NULL CHECK (char_length(note) BETWEEN 1 AND 2000),
  requested_by text NOT NULL CHECK (char_length(requested_by) BETWEEN 1 AND 64),
  requested_at timestamptz NOT NULL
);
CREATE INDEX approval_requests_subject ON approval_requests (action, subject);
CREATE TABLE approval_decisions (
  request_id   bigint PRIMARY KEY REFERENCES approval_requests,
  requested_by text NOT NULL,
  decision     text NOT NULL CHECK (decision IN ('APPROVED', 'REJECTED')),
  decided_by   text NOT NULL CHECK (char_length(decided_by) BETWEEN 1 AND 64),
  decided_at   timestamptz NOT NULL,
  CHECK (decided_by <> requested_by)
);
CREATE TRIGGER approval_requests_append_only BEFORE UPDATE OR DELETE ON approval_requests
  FOR EACH ROW EXECUTE FUNCTION forbid_rewrite();
CREATE TRIGGER approval_decisions_append_only BEFORE UPDATE OR DELETE ON approval_decisions
  FOR EACH ROW EXECUTE FUNCTION forbid_rewrite();

GRANT SELECT ON console_actions, approval_requests, approval_decisions TO settle_auditor;
GRANT SELECT, INSERT ON console_users, console_sessions, console_actions, approval_requests, approval_decisions TO settle_service;
GRANT UPDATE (last_seen, ended_at) ON console_sessions TO settle_service;
GRANT UPDATE (disabled_at, password_hash) ON console_users TO settle_service;
