-- A part of sql/report/rollup.sql: the replayed clicks of {range} (the hours holding rows a retry
-- or the spool wrote, or written late), each id once and only when no row never replayed has it:
-- what neither the rollups nor rollup_raw_clicks.sql count. Parameters: those of {range} and the
-- filters, then those of {range} twice.
SELECT toStartOfHour(ts) AS period, {columns}
{click_states}
FROM
(
    SELECT
        any(r_ts) AS ts, any(r_partner) AS partner_id, any(r_link) AS link, any(r_program) AS program,
        any(r_campaign) AS campaign, any(r_outcome) AS outcome, any(r_country) AS country,
        any(r_device) AS device_type, any(r_browser) AS browser, any(r_referer_host) AS referer_host,
        any(r_visitor) AS visitor, any(r_bot) AS bot, any(r_not_navigation) AS not_navigation,
        max(r_duplicate) AS duplicate
    FROM
    (
        SELECT click_id, ts AS r_ts, partner_id AS r_partner, link AS r_link, program AS r_program,
            campaign AS r_campaign, outcome AS r_outcome, country AS r_country, device_type AS r_device,
            browser AS r_browser, referer_host AS r_referer_host, visitor AS r_visitor, bot AS r_bot,
            not_navigation AS r_not_navigation, duplicate AS r_duplicate
        FROM clicks
        WHERE ({range}) AND replayed = 1 {where}
            AND click_id NOT IN
            (
                SELECT click_id FROM clicks
                WHERE ({range}) AND replayed = 0
                    AND click_id GLOBAL IN (SELECT click_id FROM clicks WHERE ({range}) AND replayed = 1)
            )
    )
    GROUP BY click_id
)
GROUP BY period{group_columns}
