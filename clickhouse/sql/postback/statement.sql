-- The monthly statement for a network: per partner and currency, the effective commissionable order
-- amount (the base of approved and pending order lines), the leads, and the commission, from the
-- current state of each line attributed through the network (its claim carried a network click
-- id: the lines the network sees postbacks of). Parameters: the network's programs (an array),
-- from, to.
SELECT
    partner_id,
    currency,
    countIf(line = 'order') AS orders,
    sumIf(base, line = 'order') AS amount,
    countIf(line = 'lead') AS leads,
    sum(commission) AS commission
FROM commission_lines
WHERE has(?, program) AND network_click_id != '' AND status != 'rejected' AND ts >= ? AND ts < ?
GROUP BY partner_id, currency
ORDER BY partner_id, currency;
