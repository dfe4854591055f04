-- The current commission lines in a time range, newest first. Parameters: from, to, then the
-- filters (partner, program) where the placeholder below stands.
SELECT program, partner_id, line, ref, account_id, status, reason, currency, base, rate, commission, payable_on, ts, click_id, network_click_id
FROM commission_lines
WHERE ts >= ? AND ts < ? {where}
ORDER BY ts DESC, line, ref
LIMIT 10000
