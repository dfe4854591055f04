-- The current state of a program's commission lines, in the columns of report/lines.sql (both read
-- with one scanner). Parameters: program.
SELECT program, partner_id, line, ref, account_id, status, reason, currency, base, rate, commission, payable_on, ts, click_id, network_click_id
FROM commission_lines
WHERE program = ?
ORDER BY line, ref;
