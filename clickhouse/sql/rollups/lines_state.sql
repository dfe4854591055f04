-- The commission lines' fingerprint: the newest run that wrote lines and the table's rows. A run
-- written, a chunk of one, a merge or a deletion changes it; a rollup made at another fingerprint
-- is not read.
SELECT max(run), count() FROM commissions
