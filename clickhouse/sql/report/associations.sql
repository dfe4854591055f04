-- Associations by the asked dimensions (those the table has), each id counted once. A sign-up
-- reported with only a click id (server to server) has no partner or link of its own: it takes the
-- partner whose claim the click carried and, when that click made the claim, the click's link; a
-- sign-up that still has no value for a grouped partner or link stays out of those rows ({nonempty})
-- and counts in the totals only. Parameters: from, to, from, to, then the filters.
SELECT
    {dims}
    uniqExactIf(association_id, kind = 'register') AS registers,
    uniqExactIf(association_id, kind = 'login') AS logins
FROM
(
    SELECT
        association_id,
        ts,
        program,
        kind,
        if(a_partner != '', a_partner, c_partner) AS partner_id,
        if(a_link != '', a_link, c_link) AS link
    FROM
    (
        SELECT association_id, ts, program, kind, partner_id AS a_partner, link AS a_link, click_id
        FROM associations
        WHERE ts >= ? AND ts < ?
    ) AS a
    GLOBAL ANY LEFT JOIN
    (
        SELECT click_id, any(claim_partner_id) AS c_partner, anyIf(link, claim_click_id = click_id) AS c_link
        FROM clicks
        WHERE click_id GLOBAL IN (SELECT click_id FROM associations WHERE ts >= ? AND ts < ? AND click_id != '' AND (partner_id = '' OR link = ''))
        GROUP BY click_id
    ) AS c USING click_id
)
WHERE 1 {where} {nonempty}
{group_by}
