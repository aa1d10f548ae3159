-- Is a named token still good? Its record must exist, not be revoked, its
-- owner must still exist, and its lineage (named ancestors, the temporary
-- generation of its chain) must hold.
-- KEYS: 1 user, 2 record, 3 the user's temporary generation.
-- ARGV: 1 the user's named-record key prefix.
-- Reply: {status, name, admin, ancestors, generation, foreign owner, foreign
-- ancestors, foreign generation}; status ok | norecord | revoked | nouser. A
-- foreign lineage (an admin's token minted it for this user) is checked by
-- the caller in that user's slot (check_lineage.lua).
local user = redis.call('HMGET', KEYS[1], 'name', 'admin')
if not user[1] then
  return {'nouser'}
end
local rec = redis.call('HMGET', KEYS[2], 'revoked', 'uid', 'anc', 'pgen', 'fuid', 'fanc', 'fgen')
if not rec[2] then
  return {'norecord', user[1], user[2]}
end
if rec[1] == '1' or not lineage_ok(ARGV[1], rec[3], rec[4], KEYS[3]) then
  return {'revoked', user[1], user[2]}
end
return {'ok', user[1], user[2], rec[3] or '', rec[4] or '', rec[5] or '', rec[6] or '', rec[7] or ''}
