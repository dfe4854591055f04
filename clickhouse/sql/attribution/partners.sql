-- Partners by month ('' holds for every month), newest import of each.
SELECT
    partner_id,
    month,
    argMax(identity_id, imported_at) AS identity_id,
    argMax(level, imported_at) AS level,
    argMax(excluded, imported_at) AS excluded
FROM partners
GROUP BY partner_id, month;
