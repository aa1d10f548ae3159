-- Is an F5 token still good? The application must exist, be enabled and be of
-- the token's generation, and the token's record must exist.
-- KEYS: 1 application, 2 record. ARGV: 1 the token's generation.
-- Reply: status ok | noapp | disabled | revoked | norecord.
local app = redis.call('HMGET', KEYS[1], 'doc', 'disabled', 'deleted', 'gen')
if not app[1] or app[3] == '1' then
  return 'noapp'
end
if app[2] == '1' then
  return 'disabled'
end
if (app[4] or '0') ~= ARGV[1] then
  return 'revoked'
end
if redis.call('EXISTS', KEYS[2]) == 0 then
  return 'norecord'
end
return 'ok'
