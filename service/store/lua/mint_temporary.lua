-- Mint a temporary token: limit check and the user's current generation.
-- Temporary tokens are not recorded one by one; bumping the generation
-- revokes them all. The generation key outlives every token it covers.
-- KEYS: 1 rate counter, 2 user, 3 generation. ARGV: now_ms, interval_ms, limit, generation ttl.
-- Reply: {status, remaining, retry_ms, reset_ms, generation}.
local now, interval, limit = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
if redis.call('EXISTS', KEYS[2]) == 0 then
  return {'nouser', 0, 0, 0, 0}
end
local r = gcra_peek(KEYS[1], now, interval, limit)
if r[1] == 0 then
  local reply = gcra_reply('limited', r)
  reply[5] = 0
  return reply
end
gcra_commit(KEYS[1], now, r)
local gen = redis.call('GET', KEYS[3])
if not gen then
  gen = '0'
  redis.call('SET', KEYS[3], gen, 'EX', ARGV[4])
else
  redis.call('EXPIRE', KEYS[3], ARGV[4], 'GT')
end
local reply = gcra_reply('ok', r)
reply[5] = tonumber(gen)
return reply
