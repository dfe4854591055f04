-- Accounts, newest import of each.
SELECT
    account_id,
    argMax(identity_id, imported_at) AS identity_id,
    argMax(registered_at, imported_at) AS registered_at,
    argMax(type, imported_at) AS type,
    argMax(sales_bound, imported_at) AS sales_bound
FROM accounts
GROUP BY account_id;
