-- A deferral made by mistake is corrected by another one, back: a file
-- deferred from C1 to C2 moves back to C1 (while C1 is not netted) with a
-- row of its own, and may be deferred again later. Each move stays
-- recorded; a file may therefore leave the same cycle more than once.
ALTER TABLE file_deferrals DROP CONSTRAINT file_deferrals_file_row_from_cycle_key;
