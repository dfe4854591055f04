-- A part of sql/report/rollup.sql: the replayed impressions of {range}, each id once and only when
-- no impression never replayed has it. Parameters: those of {range} and the filters, then those of
-- {range} twice.
SELECT toStartOfHour(ts) AS period, {columns}
{impression_states}
FROM
(
    SELECT
        any(i_ts) AS ts, any(i_partner) AS partner_id, any(i_link) AS link, any(i_program) AS program,
        any(i_campaign) AS campaign, any(i_bot) AS bot, any(i_duplicate) AS duplicate
    FROM
    (
        SELECT impression_id, ts AS i_ts, partner_id AS i_partner, link AS i_link, program AS i_program,
            campaign AS i_campaign, bot AS i_bot, duplicate AS i_duplicate
        FROM impressions
        WHERE ({range}) AND replayed = 1 {where}
            AND impression_id NOT IN
            (
                SELECT impression_id FROM impressions
                WHERE ({range}) AND replayed = 0
                    AND impression_id GLOBAL IN (SELECT impression_id FROM impressions WHERE ({range}) AND replayed = 1)
            )
    )
    GROUP BY impression_id
)
GROUP BY period{group_columns}
