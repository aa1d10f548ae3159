-- Mint a named token: limit check, unique name and record in one step, so a
-- refused mint writes nothing.
-- KEYS: 1 rate counter, 2 user, 3 name index, 4 record.
-- ARGV: 1 now_ms, 2 interval_ms, 3 limit, 4 name, 5 token id, 6 expiry (unix
-- seconds, 0 = never), 7 ttl seconds (0 = none), 8.. record field/value pairs.
-- Reply: {status, remaining, retry_ms, reset_ms}; status ok | limited | nouser | exists.
local now, interval, limit = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local name, tid, exp, ttl = ARGV[4], ARGV[5], tonumber(ARGV[6]), tonumber(ARGV[7])
if bad_expiry(exp, ttl) then
  return redis.error_reply('ERR expiry out of range')
end
if redis.call('EXISTS', KEYS[2]) == 0 then
  return {'nouser', 0, 0, 0}
end
local r = gcra_peek(KEYS[1], now, interval, limit)
if r[1] == 0 then
  return gcra_reply('limited', r)
end
local old = redis.call('HGET', KEYS[3], name)
if old then
  local sep = string.find(old, ':', 1, true)
  local old_exp = tonumber(string.sub(old, sep + 1))
  if old_exp == 0 or old_exp * 1000 > now then
    return gcra_reply('exists', r)
  end
end
-- The record first: the write that can fail on a bad argument fails before
-- any other (Redis does not roll a script back).
redis.call('HSET', KEYS[4], unpack(ARGV, 8))
gcra_commit(KEYS[1], now, r)
local existed = redis.call('EXISTS', KEYS[3])
redis.call('HSET', KEYS[3], name, tid .. ':' .. ARGV[6])
if ttl > 0 then
  redis.call('EXPIRE', KEYS[4], ttl)
  if existed == 0 then
    redis.call('EXPIRE', KEYS[3], ttl)
  else
    redis.call('EXPIRE', KEYS[3], ttl, 'GT')
  end
else
  redis.call('PERSIST', KEYS[3])
end
return gcra_reply('ok', r)
