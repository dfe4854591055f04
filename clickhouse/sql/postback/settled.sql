-- What a network has settled, per line and status: those are never sent again. A line and status
-- is settled when the network acknowledged it (2xx), and when it refused it for good (a 4xx other
-- than 408 and 429: sending it again would be refused again); a new status of the line is sent
-- afresh. Parameters: network.
SELECT program, line, ref, status
FROM postbacks
WHERE network = ? AND (ok = 1 OR (http_status >= 400 AND http_status < 500 AND http_status NOT IN (408, 429)))
GROUP BY program, line, ref, status;
