-- Change a named token's custom metadata and/or revoked flag; a change of the
-- flag is announced on the revocation channel in the same step.
-- KEYS: 1 record. ARGV: 1 custom JSON ('' = keep), 2 revoked ('' | '0' | '1'),
-- 3 channel, 4 message. Reply: 1 if the record exists, else 0.
if redis.call('EXISTS', KEYS[1]) == 0 then
  return 0
end
if ARGV[1] ~= '' then
  redis.call('HSET', KEYS[1], 'custom', ARGV[1])
end
if ARGV[2] ~= '' then
  local old = redis.call('HGET', KEYS[1], 'revoked')
  redis.call('HSET', KEYS[1], 'revoked', ARGV[2])
  if old ~= ARGV[2] then
    redis.call('PUBLISH', ARGV[3], ARGV[4])
  end
end
return 1
