-- Delete named tokens and their names, announcing each on the revocation channel.
-- KEYS: 1 name index, 2.. records. ARGV: 1 channel, then per record: token id, name.
-- Reply: how many records existed.
local n = 0
for i = 2, #KEYS do
  local tid, name = ARGV[2 * i - 2], ARGV[2 * i - 1]
  n = n + redis.call('DEL', KEYS[i])
  local cur = redis.call('HGET', KEYS[1], name)
  if cur and string.sub(cur, 1, #tid + 1) == tid .. ':' then
    redis.call('HDEL', KEYS[1], name)
  end
  redis.call('PUBLISH', ARGV[1], 'tok:' .. tid)
end
return n
