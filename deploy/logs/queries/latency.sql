-- Time to answer over the last hour by route: the median and the 99th percentile of duration_ms,
-- and the request id of the slowest request, to look it up.
SELECT line->>'route' AS route, count(*) AS requests,
       round(percentile_cont(0.5) WITHIN GROUP (ORDER BY (line->>'duration_ms')::float8)::numeric, 3) AS p50_ms,
       round(percentile_cont(0.99) WITHIN GROUP (ORDER BY (line->>'duration_ms')::float8)::numeric, 3) AS p99_ms,
       (array_agg(line->>'request_id' ORDER BY (line->>'duration_ms')::float8 DESC))[1] AS slowest_request_id
  FROM logs
 WHERE line->>'msg' = 'request' AND time > now() - interval '1 hour'
 GROUP BY 1
 ORDER BY p99_ms DESC, 1;
