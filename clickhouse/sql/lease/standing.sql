-- The standing leases of a program: taken, not released, not expired at the given instant, the
-- earliest first (it is the one that holds). Parameters: the program, the instant in nanoseconds.
SELECT taken_ns, holder, max(expires_ns) AS expires
FROM attribution_leases
WHERE program = ?
GROUP BY taken_ns, holder
HAVING max(released) = 0 AND max(expires_ns) > ?
ORDER BY taken_ns, holder;
