-- The current state of a program's commission lines. Parameters: program.
SELECT line, ref, partner_id, account_id, status, reason, currency, base, rate, commission, payable_on
FROM commission_lines
WHERE program = ?
ORDER BY line, ref;
