-- One rate-limit counter (e.g. failed logins).
-- KEYS[1] the counter. ARGV: now_ms, interval_ms, limit, mode ('peek' | 'hit' | 'release').
-- 'peek' answers without consuming; 'hit' consumes when allowed; 'release'
-- gives back one earlier 'hit' (a reserved attempt that turned out good).
local now, interval, limit = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
if ARGV[4] == 'release' then
  gcra_release(KEYS[1], now, interval)
  return {'ok', 0, 0, 0}
end
local r = gcra_peek(KEYS[1], now, interval, limit)
if r[1] == 1 and ARGV[4] == 'hit' then
  gcra_commit(KEYS[1], now, r)
end
return gcra_reply(r[1] == 1 and 'ok' or 'limited', r)
