-- Orders known at as-of, newest import of each. Parameters: as-of.
SELECT
    order_id,
    argMax(account_id, imported_at) AS account_id,
    argMax(ts, imported_at) AS order_ts,
    argMax(ts_ms, imported_at) AS order_ms,
    argMax(product, imported_at) AS product,
    argMax(category, imported_at) AS category,
    argMax(billing, imported_at) AS billing,
    argMax(kind, imported_at) AS kind,
    argMax(currency, imported_at) AS currency,
    argMax(amount, imported_at) AS amount,
    argMax(voucher, imported_at) AS voucher,
    argMax(refund, imported_at) AS refund,
    argMax(refunded_at, imported_at) AS refunded_at
FROM orders
WHERE ts <= ?
GROUP BY order_id;
