-- Is a named token still good? Its record must exist, not be revoked, and its
-- owner must still exist. Reply: {status, user fields...}; status ok | norecord | revoked | nouser.
-- KEYS: 1 user, 2 record.
local user = redis.call('HMGET', KEYS[1], 'name', 'admin')
if not user[1] then
  return {'nouser'}
end
local rec = redis.call('HMGET', KEYS[2], 'revoked', 'uid')
if not rec[2] then
  return {'norecord', user[1], user[2]}
end
if rec[1] == '1' then
  return {'revoked', user[1], user[2]}
end
return {'ok', user[1], user[2]}
