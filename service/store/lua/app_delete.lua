-- Delete an application: leave a tombstone with the next generation that
-- lives as long as the longest token it ever issued, so every token of the
-- application fails at once and a re-created application starts afresh.
-- KEYS: 1 application. ARGV: 1 now (unix s), 2 channel, 3 message.
-- Reply: 1 deleted, 0 not found.
local cur = redis.call('HMGET', KEYS[1], 'doc', 'deleted', 'gen', 'maxexp')
if not cur[1] or cur[2] == '1' then
  return 0
end
local gen = tonumber(cur[3] or '0') + 1
redis.call('DEL', KEYS[1])
local ttl = tonumber(cur[4] or '0') - tonumber(ARGV[1])
if ttl > 0 then
  redis.call('HSET', KEYS[1], 'deleted', '1', 'gen', gen)
  redis.call('EXPIRE', KEYS[1], ttl + 1)
end
redis.call('PUBLISH', ARGV[2], ARGV[3])
return 1
