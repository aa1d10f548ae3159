-- Mint an F5 AuthToken: the application must exist and be enabled; both the
-- per-user and the per-application limits must admit it; then the token is
-- recorded under the application's current generation.
-- KEYS: 1 application, 2 user-in-app counter, 3 app counter, 4 record.
-- ARGV: 1 now_ms, 2 user interval_ms, 3 user limit, 4 app interval_ms, 5 app limit,
-- 6 expiry (unix s), 7 ttl s, 8 user id, 9 linked ('1': the token's lineage is in
-- a link record in the user's slot, which check_owner.lua must then find).
-- Reply: {status, remaining, retry_ms, reset_ms, generation, policy}; status
-- ok | limited | notfound | disabled; policy 'user' or 'app' names the tighter limit.
local now = tonumber(ARGV[1])
local app = redis.call('HMGET', KEYS[1], 'doc', 'disabled', 'deleted', 'gen', 'maxexp')
if not app[1] or app[3] == '1' then
  return {'notfound', 0, 0, 0, 0, ''}
end
if app[2] == '1' then
  return {'disabled', 0, 0, 0, 0, ''}
end
local ru = gcra_peek(KEYS[2], now, tonumber(ARGV[2]), tonumber(ARGV[3]))
local ra = gcra_peek(KEYS[3], now, tonumber(ARGV[4]), tonumber(ARGV[5]))
local tight, tight_name = ru, 'user'
if ra[1] == 0 or (ru[1] == 1 and ra[2] < ru[2]) then
  tight, tight_name = ra, 'app'
end
if ru[1] == 0 then
  tight, tight_name = ru, 'user'
end
if ru[1] == 0 or ra[1] == 0 then
  local reply = gcra_reply('limited', tight)
  reply[5] = 0
  reply[6] = tight_name
  return reply
end
gcra_commit(KEYS[2], now, ru)
gcra_commit(KEYS[3], now, ra)
local gen = app[4] or '0'
local exp = tonumber(ARGV[6])
redis.call('HSET', KEYS[4], 'uid', ARGV[8], 'gen', gen, 'exp', exp, 'created', math.floor(now / 1000),
  'linked', ARGV[9])
redis.call('EXPIRE', KEYS[4], ARGV[7])
if not app[5] or tonumber(app[5]) < exp then
  redis.call('HSET', KEYS[1], 'maxexp', exp)
end
local reply = gcra_reply('ok', tight)
reply[5] = tonumber(gen)
reply[6] = tight_name
return reply
