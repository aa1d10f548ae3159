-- Is a temporary token of this generation still good? Its generation must be
-- the user's current one and the user must still exist.
-- KEYS: 1 user, 2 generation. ARGV: 1 the token's generation.
-- Reply: {status, name, admin}; status ok | revoked | nouser.
local user = redis.call('HMGET', KEYS[1], 'name', 'admin')
if not user[1] then
  return {'nouser'}
end
local gen = redis.call('GET', KEYS[2]) or '0'
if gen ~= ARGV[1] then
  return {'revoked', user[1], user[2]}
end
return {'ok', user[1], user[2]}
