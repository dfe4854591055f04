-- A program's associations known at as-of, each id once, joined with the clicks they name: an
-- association reported with only a click id (server to server) takes its partner and its claim
-- from the click (claimed-at = the claim's expiry - the window). Parameters: window in seconds,
-- program, as-of, program, as-of.
SELECT
    assoc_ts,
    assoc_ms,
    account_id,
    if(assoc_partner != '', assoc_partner, click_partner) AS partner_id,
    click_id,
    kind,
    if(assoc_claimed_at > toDateTime(0), assoc_claimed_at,
       if(click_expires > toDateTime(0), toDateTime(toUInt32(click_expires) - ?), toDateTime(0))) AS claimed_at,
    if(assoc_network != '', assoc_network, click_network) AS network_click_id
FROM
(
    SELECT
        association_id,
        any(ts) AS assoc_ts,
        any(ts_ms) AS assoc_ms,
        any(account_id) AS account_id,
        any(partner_id) AS assoc_partner,
        any(click_id) AS click_id,
        any(kind) AS kind,
        any(claimed_at) AS assoc_claimed_at,
        any(network_click_id) AS assoc_network
    FROM associations
    WHERE program = ? AND ts <= ?
    GROUP BY association_id
) AS assoc
GLOBAL ANY LEFT JOIN
(
    SELECT
        click_id,
        any(claim_partner_id) AS click_partner,
        any(claim_expires_at) AS click_expires,
        any(network_click_id) AS click_network
    FROM clicks
    WHERE click_id GLOBAL IN (SELECT click_id FROM associations WHERE program = ? AND ts <= ? AND click_id != '')
    GROUP BY click_id
) AS claim USING click_id;
