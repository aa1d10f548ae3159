-- Undo an F5 mint whose caller was over the user's limit (checked in the same
-- batch, in the user's slot): the record goes and the application's counter
-- gets its cell back, so a refused caller does not spend the application's quota.
-- KEYS: 1 app counter, 2 record. ARGV: 1 now_ms, 2 app interval_ms.
local now, interval = tonumber(ARGV[1]), tonumber(ARGV[2])
redis.call('DEL', KEYS[2])
gcra_release(KEYS[1], now, interval)
return 1
