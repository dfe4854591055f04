-- The standing claims on some codes: those not released. Parameters: the codes (an array).
SELECT code, claimed_ns, writer, request
FROM link_claims
WHERE code IN (SELECT arrayJoin(?))
GROUP BY code, claimed_ns, writer, request
HAVING max(released) = 0
ORDER BY code, claimed_ns, writer;
