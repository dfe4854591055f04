-- Associations by the asked dimensions (those the table has), each id counted once.
SELECT
    {dims}
    uniqExactIf(association_id, kind = 'register') AS registers,
    uniqExactIf(association_id, kind = 'login') AS logins
FROM associations
WHERE ts >= ? AND ts < ? {where}
{group_by}
