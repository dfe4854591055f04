-- Click metrics by the asked dimensions, each click id counted once, for a range where a retry or
-- the spool wrote rows (replayed = 1), which may repeat clicks already stored. Rows never replayed
-- are distinct among themselves; a replayed id counts once, and only when no unreplayed row has it.
-- The replayed ids are few (they come from outages), so this costs one more pass over the ids.
-- Placeholders as in clicks.sql. Parameters: the bots flag four times; then from, to and the
-- filters twice; then from, to; then from, to.
SELECT
    {dims}
    {click_metrics}
FROM
(
    SELECT ts, partner_id, link, program, campaign, outcome, country, device_type, browser, referer_host,
        visitor, bot, not_navigation, duplicate
    FROM clicks
    WHERE ts >= ? AND ts < ? {where} AND replayed = 0
    UNION ALL
    SELECT any(r_ts), any(r_partner), any(r_link), any(r_program), any(r_campaign), any(r_outcome), any(r_country),
        any(r_device), any(r_browser), any(r_referer_host), any(r_visitor), any(r_bot), any(r_not_navigation), max(r_duplicate)
    FROM
    (
        SELECT click_id, ts AS r_ts, partner_id AS r_partner, link AS r_link, program AS r_program, campaign AS r_campaign,
            outcome AS r_outcome, country AS r_country, device_type AS r_device, browser AS r_browser,
            referer_host AS r_referer_host, visitor AS r_visitor, bot AS r_bot, not_navigation AS r_not_navigation,
            duplicate AS r_duplicate
        FROM clicks
        WHERE ts >= ? AND ts < ? {where} AND replayed = 1
            AND click_id NOT IN
            (
                SELECT click_id FROM clicks
                WHERE ts >= ? AND ts < ? AND replayed = 0
                    AND click_id GLOBAL IN (SELECT click_id FROM clicks WHERE ts >= ? AND ts < ? AND replayed = 1)
            )
    )
    GROUP BY click_id
)
{group_by}
