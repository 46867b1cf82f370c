-- Requests per minute over the last hour, by route and status: the route is the template
-- (/porras/{ID}/apuestas/{quien}), so every pool's requests count together.
SELECT date_trunc('minute', time) AS minute, line->>'route' AS route,
       (line->>'status')::int AS status, count(*) AS requests
  FROM logs
 WHERE line->>'msg' = 'request' AND time > now() - interval '1 hour'
 GROUP BY 1, 2, 3
 ORDER BY 1 DESC, 4 DESC, 2, 3;
