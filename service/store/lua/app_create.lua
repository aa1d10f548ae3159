-- Create an application unless it exists. A deleted application's tombstone
-- keeps its generation so that tokens of the old one never come back.
-- KEYS: 1 application. ARGV: 1 document JSON, 2 disabled ('0' | '1').
-- Reply: 1 created, 0 exists.
local cur = redis.call('HMGET', KEYS[1], 'doc', 'deleted', 'gen')
if cur[1] and cur[2] ~= '1' then
  return 0
end
local gen = 0
if cur[3] then
  gen = tonumber(cur[3]) + 1
end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'doc', ARGV[1], 'disabled', ARGV[2], 'gen', gen)
return 1
