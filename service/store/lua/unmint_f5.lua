-- Undo an F5 mint whose caller was over the user's limit (checked in the same
-- batch, in the user's slot): the record goes and the application's counter
-- gets its cell back, so a refused caller does not spend the application's quota.
-- KEYS: 1 app counter, 2 record. ARGV: 1 now_ms, 2 app interval_ms.
local now, interval = tonumber(ARGV[1]), tonumber(ARGV[2])
redis.call('DEL', KEYS[2])
local tat = tonumber(redis.call('GET', KEYS[1]))
if tat then
  local new_tat = tat - interval
  if new_tat <= now then
    redis.call('DEL', KEYS[1])
  else
    redis.call('SET', KEYS[1], string.format('%.3f', new_tat), 'PX', math.max(1, math.ceil(new_tat - now)))
  end
end
return 1
