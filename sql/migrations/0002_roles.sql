-- 0002: database roles. Roles are cluster-wide and NOLOGIN: an operator
-- grants them to login roles (GRANT settle_service TO settle_app). Several
-- databases of one cluster (tests) may run this at once, hence the guard.
DO $$
BEGIN
  CREATE ROLE settle_service NOLOGIN;
EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
END
$$;
DO $$
BEGIN
  CREATE ROLE settle_auditor NOLOGIN;
EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
END
$$;

GRANT USAGE ON SCHEMA public TO settle_service, settle_auditor;

-- The auditor reads everything and writes nothing.
GRANT SELECT ON ALL TABLES IN SCHEMA public TO settle_auditor;

-- The service inserts and reads. It can never UPDATE or DELETE money
-- (payments, positions, obligations, ledger records, caps, breaks); the
-- triggers refuse that anyway, this is the second wall. The few columns it
-- may set later are granted one by one.
GRANT SELECT, INSERT ON ALL TABLES IN SCHEMA public TO settle_service;
GRANT UPDATE (name, status, ledger_msp) ON banks TO settle_service;
GRANT UPDATE (valid_to, revoked_at) ON bank_keys TO settle_service;
GRANT UPDATE (acknowledged_at) ON files TO settle_service;
GRANT UPDATE (state, closed_at, netted_at, settled_at, reconciled_at, failed_at) ON cycles TO settle_service;
GRANT UPDATE (status, finished_at, detail) ON job_runs TO settle_service;
GRANT UPDATE (published_at) ON outbox TO settle_service;
GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO settle_service;
