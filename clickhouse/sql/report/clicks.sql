-- Click metrics by the asked dimensions, for a range holding no replayed rows: every row is a
-- different click, so rows are counted as they are. (report.Run checks replayed_rows first, and
-- takes clicks_dedup otherwise.)
-- The dimension, filter and grouping placeholders are filled from report's whitelist of columns;
-- values are bound: the bots flag four times (1 counts bots), from, to, then the filters.
SELECT
    {dims}
    {click_metrics}
FROM clicks
WHERE ts >= ? AND ts < ? {where}
{group_by}
