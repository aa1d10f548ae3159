-- Revoke every temporary token of a user at once and announce it.
-- KEYS: 1 generation. ARGV: 1 ttl s, 2 channel, 3 message. Reply: the new generation.
local gen = redis.call('INCR', KEYS[1])
redis.call('EXPIRE', KEYS[1], ARGV[1])
redis.call('PUBLISH', ARGV[2], ARGV[3])
return gen
