-- 0010: a failed attempt that only an operator can unblock (a cap breach,
-- a reversal waiting for its original, a bank the ledger does not know, a
-- refusal by the ledger, no majority) is a hold. The hold is kept here,
-- with the attempt, so that every process sees it: the service's event
-- handlers and its resume pass leave a held cycle to the operator whoever
-- made the attempt (the service itself or an operator's `cycle run`). A
-- hold is in force while it is the cycle's latest failed attempt and the
-- cycle still stands just before the stage it failed to reach.
ALTER TABLE cycle_step_errors ADD COLUMN held boolean NOT NULL DEFAULT false;
