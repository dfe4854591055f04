-- The clicks rollups kept by materialized views instead of the roller: one view per rollup table,
-- computed on every INSERT (bench/ingest -views). Measured and not taken: bench/results/*-rollups.md.

CREATE MATERIALIZED VIEW {db}.rollup_clicks_days_view TO {db}.rollup_clicks_days AS
SELECT toUInt64(0) AS run, toStartOfDay(ts) AS period, program,
    toUInt64(countIf(bot = 0)) AS clicks_humans,
    toUInt64(countIf(bot = 1)) AS clicks_bots,
    toUInt64(countIf(outcome = 'claimed')) AS claims,
    toUInt64(countIf(outcome = 'kept')) AS kept,
    toUInt64(countIf(outcome = 'protected')) AS protected,
    toUInt64(countIf(not_navigation = 1 AND bot = 0)) AS nn_humans,
    toUInt64(countIf(not_navigation = 1 AND bot = 1)) AS nn_bots,
    toUInt64(countIf(duplicate = 1 AND bot = 0)) AS dup_humans,
    toUInt64(countIf(duplicate = 1 AND bot = 1)) AS dup_bots,
    uniqCombinedIfState(12)(visitor, bot = 0) AS visitors_humans,
    uniqCombinedState(12)(visitor) AS visitors_all
FROM {db}.clicks
WHERE replayed = 0
GROUP BY period, program;

CREATE MATERIALIZED VIEW {db}.rollup_clicks_hours_view TO {db}.rollup_clicks_hours AS
SELECT toUInt64(0) AS run, toStartOfHour(ts) AS period, program, outcome,
    toUInt64(countIf(bot = 0)) AS clicks_humans,
    toUInt64(countIf(bot = 1)) AS clicks_bots,
    toUInt64(countIf(outcome = 'claimed')) AS claims,
    toUInt64(countIf(outcome = 'kept')) AS kept,
    toUInt64(countIf(outcome = 'protected')) AS protected,
    toUInt64(countIf(not_navigation = 1 AND bot = 0)) AS nn_humans,
    toUInt64(countIf(not_navigation = 1 AND bot = 1)) AS nn_bots,
    toUInt64(countIf(duplicate = 1 AND bot = 0)) AS dup_humans,
    toUInt64(countIf(duplicate = 1 AND bot = 1)) AS dup_bots,
    uniqCombinedIfState(12)(visitor, bot = 0) AS visitors_humans,
    uniqCombinedState(12)(visitor) AS visitors_all
FROM {db}.clicks
WHERE replayed = 0
GROUP BY period, program, outcome;

CREATE MATERIALIZED VIEW {db}.rollup_clicks_referers_view TO {db}.rollup_clicks_referers AS
SELECT toUInt64(0) AS run, toStartOfDay(ts) AS period, program, referer_host,
    toUInt64(countIf(bot = 0)) AS clicks_humans,
    toUInt64(countIf(bot = 1)) AS clicks_bots,
    toUInt64(countIf(outcome = 'claimed')) AS claims,
    toUInt64(countIf(outcome = 'kept')) AS kept,
    toUInt64(countIf(outcome = 'protected')) AS protected,
    toUInt64(countIf(not_navigation = 1 AND bot = 0)) AS nn_humans,
    toUInt64(countIf(not_navigation = 1 AND bot = 1)) AS nn_bots,
    toUInt64(countIf(duplicate = 1 AND bot = 0)) AS dup_humans,
    toUInt64(countIf(duplicate = 1 AND bot = 1)) AS dup_bots,
    uniqCombinedIfState(12)(visitor, bot = 0) AS visitors_humans,
    uniqCombinedState(12)(visitor) AS visitors_all
FROM {db}.clicks
WHERE replayed = 0
GROUP BY period, program, referer_host;

CREATE MATERIALIZED VIEW {db}.rollup_clicks_places_view TO {db}.rollup_clicks_places AS
SELECT toUInt64(0) AS run, toStartOfDay(ts) AS period, program, country, device_type,
    toUInt64(countIf(bot = 0)) AS clicks_humans,
    toUInt64(countIf(bot = 1)) AS clicks_bots,
    toUInt64(countIf(outcome = 'claimed')) AS claims,
    toUInt64(countIf(outcome = 'kept')) AS kept,
    toUInt64(countIf(outcome = 'protected')) AS protected,
    toUInt64(countIf(not_navigation = 1 AND bot = 0)) AS nn_humans,
    toUInt64(countIf(not_navigation = 1 AND bot = 1)) AS nn_bots,
    toUInt64(countIf(duplicate = 1 AND bot = 0)) AS dup_humans,
    toUInt64(countIf(duplicate = 1 AND bot = 1)) AS dup_bots,
    uniqCombinedIfState(12)(visitor, bot = 0) AS visitors_humans,
    uniqCombinedState(12)(visitor) AS visitors_all
FROM {db}.clicks
WHERE replayed = 0
GROUP BY period, program, country, device_type;

CREATE MATERIALIZED VIEW {db}.rollup_clicks_devices_view TO {db}.rollup_clicks_devices AS
SELECT toUInt64(0) AS run, toStartOfDay(ts) AS period, program, device_type, browser,
    toUInt64(countIf(bot = 0)) AS clicks_humans,
    toUInt64(countIf(bot = 1)) AS clicks_bots,
    toUInt64(countIf(outcome = 'claimed')) AS claims,
    toUInt64(countIf(outcome = 'kept')) AS kept,
    toUInt64(countIf(outcome = 'protected')) AS protected,
    toUInt64(countIf(not_navigation = 1 AND bot = 0)) AS nn_humans,
    toUInt64(countIf(not_navigation = 1 AND bot = 1)) AS nn_bots,
    toUInt64(countIf(duplicate = 1 AND bot = 0)) AS dup_humans,
    toUInt64(countIf(duplicate = 1 AND bot = 1)) AS dup_bots,
    uniqCombinedIfState(12)(visitor, bot = 0) AS visitors_humans,
    uniqCombinedState(12)(visitor) AS visitors_all
FROM {db}.clicks
WHERE replayed = 0
GROUP BY period, program, device_type, browser;

CREATE MATERIALIZED VIEW {db}.rollup_clicks_partners_view TO {db}.rollup_clicks_partners AS
SELECT toUInt64(0) AS run, toStartOfDay(ts) AS period, partner_id, program, campaign,
    toUInt64(countIf(bot = 0)) AS clicks_humans,
    toUInt64(countIf(bot = 1)) AS clicks_bots,
    toUInt64(countIf(outcome = 'claimed')) AS claims,
    toUInt64(countIf(outcome = 'kept')) AS kept,
    toUInt64(countIf(outcome = 'protected')) AS protected,
    toUInt64(countIf(not_navigation = 1 AND bot = 0)) AS nn_humans,
    toUInt64(countIf(not_navigation = 1 AND bot = 1)) AS nn_bots,
    toUInt64(countIf(duplicate = 1 AND bot = 0)) AS dup_humans,
    toUInt64(countIf(duplicate = 1 AND bot = 1)) AS dup_bots,
    uniqCombinedIfState(12)(visitor, bot = 0) AS visitors_humans,
    uniqCombinedState(12)(visitor) AS visitors_all
FROM {db}.clicks
WHERE replayed = 0
GROUP BY period, partner_id, program, campaign;

CREATE MATERIALIZED VIEW {db}.rollup_clicks_links_view TO {db}.rollup_clicks_links AS
SELECT toUInt64(0) AS run, toStartOfDay(ts) AS period, partner_id, link, program, campaign,
    toUInt64(countIf(bot = 0)) AS clicks_humans,
    toUInt64(countIf(bot = 1)) AS clicks_bots,
    toUInt64(countIf(outcome = 'claimed')) AS claims,
    toUInt64(countIf(outcome = 'kept')) AS kept,
    toUInt64(countIf(outcome = 'protected')) AS protected,
    toUInt64(countIf(not_navigation = 1 AND bot = 0)) AS nn_humans,
    toUInt64(countIf(not_navigation = 1 AND bot = 1)) AS nn_bots,
    toUInt64(countIf(duplicate = 1 AND bot = 0)) AS dup_humans,
    toUInt64(countIf(duplicate = 1 AND bot = 1)) AS dup_bots,
    uniqCombinedIfState(12)(visitor, bot = 0) AS visitors_humans,
    uniqCombinedState(12)(visitor) AS visitors_all
FROM {db}.clicks
WHERE replayed = 0
GROUP BY period, partner_id, link, program, campaign;
