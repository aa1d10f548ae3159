-- Remove a user's own state (everything in the user's slot that names them
-- or their tokens) in one step: every named token with its name, the user's
-- record and their temporary generation, each announced on the revocation
-- channel. From this step on every token of the user fails (the check
-- scripts find no user). What lives outside the slot (the name, the user
-- set, owner hints, role bindings) is removed by the caller afterwards.
-- KEYS: 1 user, 2 name index, 3 temporary generation.
-- ARGV: 1 channel, 2 the user's named-record key prefix, 3 the user's id.
-- Reply: how many named-token records existed.
local index = redis.call('HGETALL', KEYS[2])
local n = 0
for i = 1, #index, 2 do
  local value = index[i + 1]
  local sep = string.find(value, ':', 1, true)
  local tid = sep and string.sub(value, 1, sep - 1) or value
  n = n + redis.call('DEL', ARGV[2] .. tid)
  redis.call('PUBLISH', ARGV[1], 'tok:' .. tid)
end
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3])
redis.call('PUBLISH', ARGV[1], 'user:' .. ARGV[3])
return n
