-- Shared GCRA (generic cell rate algorithm) helpers, prepended to every script
-- that limits. The caller's clock arrives as ARGV so that tests can move it and
-- every replica agrees on the unit (milliseconds).
--
-- gcra_peek(key, now, interval, limit) -> {allowed, remaining, retry_ms, reset_ms, new_tat}
-- gcra_commit(key, now, result) stores the new theoretical arrival time.
-- gcra_release(key, now, interval) gives one cell back (below).
local function gcra_peek(key, now, interval, limit)
  local tat = tonumber(redis.call('GET', key))
  if not tat or tat < now then
    tat = now
  end
  local new_tat = tat + interval
  local allow_at = new_tat - interval * limit
  local diff = now - allow_at
  if diff < 0 then
    return {0, 0, math.ceil(-diff), math.ceil(tat - now), tat}
  end
  return {1, math.floor(diff / interval), 0, math.ceil(new_tat - now), new_tat}
end

local function gcra_commit(key, now, r)
  redis.call('SET', key, string.format('%.3f', r[5]), 'PX', math.max(1, math.ceil(r[5] - now)))
end

local function gcra_reply(status, r)
  return {status, r[2], r[3], r[4]}
end

-- gcra_release(key, now, interval) gives back one cell taken earlier (a
-- reserved login that turned out good, a mint that was undone).
local function gcra_release(key, now, interval)
  local tat = tonumber(redis.call('GET', key))
  if tat then
    local new_tat = tat - interval
    if new_tat <= now then
      redis.call('DEL', key)
    else
      redis.call('SET', key, string.format('%.3f', new_tat), 'PX', math.max(1, math.ceil(new_tat - now)))
    end
  end
end

-- Expiries and TTLs are whole seconds no later than 9999-12-31T23:59:59Z
-- (store.MAX_EXPIRY): checked before a script writes anything, so a bad
-- number fails the whole script instead of leaving half a record.
local function bad_expiry(exp, ttl)
  return not exp or not ttl or exp < 0 or ttl < 0 or exp > 253402300799 or ttl > 253402300799
    or exp ~= math.floor(exp) or ttl ~= math.floor(ttl)
end
