-- Replace an application's document. Disabling it moves it to the next
-- generation, so its tokens stay dead even if it is enabled again, and
-- announces the revocation.
-- KEYS: 1 application. ARGV: 1 document JSON, 2 disabled, 3 channel, 4 message.
-- Reply: 1 replaced, 0 not found.
local cur = redis.call('HMGET', KEYS[1], 'doc', 'deleted', 'disabled')
if not cur[1] or cur[2] == '1' then
  return 0
end
redis.call('HSET', KEYS[1], 'doc', ARGV[1], 'disabled', ARGV[2])
if ARGV[2] == '1' and cur[3] ~= '1' then
  redis.call('HINCRBY', KEYS[1], 'gen', 1)
  redis.call('PUBLISH', ARGV[3], ARGV[4])
end
return 1
