-- Give a user a role in a namespace, or take it away ('' = remove the binding).
-- Leaving `editor` moves the user's role generation in the namespace on, so
-- every F5 token they generated there fails at once, and announces it.
-- KEYS: 1 the namespace's role bindings. ARGV: 1 user id, 2 role or '', 3 channel, 4 message.
-- Reply: 1 if the user had a binding before, else 0.
local old = redis.call('HGET', KEYS[1], ARGV[1])
if ARGV[2] == '' then
  redis.call('HDEL', KEYS[1], ARGV[1])
else
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
end
if old and ARGV[2] ~= old then
  redis.call('HINCRBY', KEYS[1], 'gen:' .. ARGV[1], 1)
  redis.call('PUBLISH', ARGV[3], ARGV[4])
end
if old then
  return 1
end
return 0
