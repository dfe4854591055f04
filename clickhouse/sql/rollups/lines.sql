-- Roll up the commission lines, in their current state, by day, program, partner and currency, as
-- sql/report/commissions.sql counts them (rejected lines count for nothing). Parameters: the run.
INSERT INTO rollup_lines (run, ts, program, partner_id, currency, orders, base, commission)
SELECT ?, toDateTime(toDate(ts), 'UTC'), program, partner_id, currency,
    countIf(line = 'order'), sumIf(base, line = 'order'), sum(commission)
FROM commission_lines
WHERE status != 'rejected'
GROUP BY toDate(ts), program, partner_id, currency
