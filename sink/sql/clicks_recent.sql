-- The newest clicks, one row per click id (a replayed batch may still hold repeats before a merge).
SELECT
    click_id,
    any(ts) AS ts,
    any(link) AS link,
    any(partner_id) AS partner_id,
    any(outcome) AS outcome,
    any(claim_partner_id) AS claim_partner_id
FROM clicks
GROUP BY click_id
ORDER BY ts DESC, click_id DESC
LIMIT 20;
