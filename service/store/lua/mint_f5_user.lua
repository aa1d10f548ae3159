-- The user's side of an F5 mint, in the user's slot: one call of the user's
-- counter (rate_limits.generate_token, across every application) and, for a
-- child of an Onezone token, its lineage, written whole with the child's
-- lifetime only when the counter allows the mint (the record of a child whose
-- own record is in the application's slot).
-- KEYS: 1 the user's counter, 2 the link record (only for a child).
-- ARGV: 1 now_ms, 2 interval_ms, 3 limit, 4 ttl s, 5.. the link's field/value
-- pairs (anc, pgen, and fuid, fanc, fgen for a foreign lineage).
-- Reply: as gcra_reply.
local now, interval, limit = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local r = gcra_peek(KEYS[1], now, interval, limit)
if r[1] == 1 then
  gcra_commit(KEYS[1], now, r)
  if KEYS[2] then
    redis.call('DEL', KEYS[2])
    redis.call('HSET', KEYS[2], unpack(ARGV, 5))
    redis.call('EXPIRE', KEYS[2], ARGV[4])
  end
end
return gcra_reply(r[1] == 1 and 'ok' or 'limited', r)
