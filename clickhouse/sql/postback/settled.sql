-- What a network has already acknowledged, per line and status: those are never sent again.
-- Parameters: network.
SELECT program, line, ref, status FROM postbacks WHERE network = ? AND ok = 1 GROUP BY program, line, ref, status;
