-- Mint a temporary token: limit check and the user's current generation.
-- Temporary tokens are not recorded one by one; bumping the generation
-- revokes them all. The generation key outlives every token it covers.
-- A child of another token (lineage.lua) is refused when its parent is
-- already dead (its generation moved on between authentication and now, or
-- a named ancestor went), and, when it has named ancestors, gets a link
-- record naming them, written in the same step.
-- KEYS: 1 rate counter, 2 user, 3 generation, 4 link record.
-- ARGV: 1 now_ms, 2 interval_ms, 3 limit, 4 generation ttl, 5 the parent's
-- generation ('' = no parent), 6 named ancestors ('' = none), 7 link ttl s,
-- 8 the user's named-record key prefix, 9-11 a foreign lineage (the minting
-- token's chain in another user's slot: its owner, ancestors, generation;
-- '' = none), kept in the link and checked on use (check_lineage.lua).
-- Reply: {status, remaining, retry_ms, reset_ms, generation}; status ok | limited | nouser | revoked.
local now, interval, limit = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
if redis.call('EXISTS', KEYS[2]) == 0 then
  return {'nouser', 0, 0, 0, 0}
end
if not lineage_ok(ARGV[8], ARGV[6], ARGV[5], KEYS[3]) then
  return {'revoked', 0, 0, 0, 0}
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
if ARGV[6] ~= '' or ARGV[9] ~= '' then
  redis.call('DEL', KEYS[4])
  redis.call('HSET', KEYS[4], 'anc', ARGV[6], 'pgen', ARGV[5])
  if ARGV[9] ~= '' then
    redis.call('HSET', KEYS[4], 'fuid', ARGV[9], 'fanc', ARGV[10], 'fgen', ARGV[11])
  end
  redis.call('EXPIRE', KEYS[4], ARGV[7])
end
local reply = gcra_reply('ok', r)
reply[5] = tonumber(gen)
return reply
