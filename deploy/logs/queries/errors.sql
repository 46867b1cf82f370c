-- The last 20 errors: answers with a 5xx and lines at level error, newest first, with the request
-- id that finds the same request in every other log (nginx's, the client's X-Request-Id).
SELECT time, host, line->>'level' AS level, (line->>'status')::int AS status,
       line->>'method' AS method, line->>'uri' AS uri, line->>'request_id' AS request_id,
       line->>'msg' AS msg
  FROM logs
 WHERE (line->>'status')::int >= 500 OR line->>'level' = 'error'
 ORDER BY time DESC, id DESC
 LIMIT 20;
