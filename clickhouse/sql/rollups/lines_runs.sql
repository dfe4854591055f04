-- The newest roll of the commission lines, with the fingerprint it was made at.
SELECT run, lines_run, lines_rows FROM rollup_lines_runs ORDER BY committed_ns DESC, run DESC LIMIT 1
