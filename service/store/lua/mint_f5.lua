-- Mint an F5 AuthToken: the application must exist and be enabled, and its
-- limit must admit it; then the token is recorded under the application's
-- current generation. (The user's limit, across every application, is a
-- counter in the user's hash slot, checked in the same batch: store.mint_f5.)
-- KEYS: 1 application, 2 app counter, 3 record.
-- ARGV: 1 now_ms, 2 app interval_ms, 3 app limit, 4 expiry (unix s), 5 ttl s,
-- 6 user id, 7 the minter's role generation in the namespace ('' = minted as
-- admin), 8 linked ('1': the token's lineage is in a link record in the user's
-- slot, which check_owner.lua must then find).
-- Reply: {status, remaining, retry_ms, reset_ms, generation}; status
-- ok | limited | notfound | disabled.
local now = tonumber(ARGV[1])
local exp, ttl = tonumber(ARGV[4]), tonumber(ARGV[5])
if bad_expiry(exp, ttl) then
  return redis.error_reply('ERR expiry out of range')
end
local app = redis.call('HMGET', KEYS[1], 'doc', 'disabled', 'deleted', 'gen', 'maxexp')
if not app[1] or app[3] == '1' then
  return {'notfound', 0, 0, 0, 0}
end
if app[2] == '1' then
  return {'disabled', 0, 0, 0, 0}
end
local ra = gcra_peek(KEYS[2], now, tonumber(ARGV[2]), tonumber(ARGV[3]))
if ra[1] == 0 then
  local reply = gcra_reply('limited', ra)
  reply[5] = 0
  return reply
end
gcra_commit(KEYS[2], now, ra)
local gen = app[4] or '0'
redis.call('HSET', KEYS[3], 'uid', ARGV[6], 'gen', gen, 'exp', ARGV[4], 'rgen', ARGV[7],
  'created', math.floor(now / 1000), 'linked', ARGV[8])
redis.call('EXPIRE', KEYS[3], ttl)
if not app[5] or tonumber(app[5]) < exp then
  redis.call('HSET', KEYS[1], 'maxexp', ARGV[4])
end
local reply = gcra_reply('ok', ra)
reply[5] = tonumber(gen)
return reply
