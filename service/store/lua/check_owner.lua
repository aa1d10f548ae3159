-- The owner's part of checking a token that has no record in the owner's slot:
-- a temporary token (its generation must be the user's current one) or an F5
-- token (its record lives in the application's slot). Either may have a link
-- record naming its lineage (see lineage.lua), which must hold.
-- KEYS: 1 user, 2 the user's temporary generation, 3 the token's link record.
-- ARGV: 1 the token's own temporary generation ('' for an F5 token), 2 the
-- user's named-record key prefix.
-- Reply: {status, name, admin, linked ('1' | '0'), ancestors, generation,
-- foreign owner, foreign ancestors, foreign generation}; status ok | revoked |
-- nouser. A foreign lineage (fuid ~= '') is checked by the caller in that
-- user's slot (check_lineage.lua).
local user = redis.call('HMGET', KEYS[1], 'name', 'admin')
if not user[1] then
  return {'nouser'}
end
if ARGV[1] ~= '' and (redis.call('GET', KEYS[2]) or '0') ~= ARGV[1] then
  return {'revoked', user[1], user[2]}
end
local link = redis.call('HMGET', KEYS[3], 'anc', 'pgen', 'fuid', 'fanc', 'fgen')
if not link[1] then
  return {'ok', user[1], user[2], '0', '', '', '', '', ''}
end
if not lineage_ok(ARGV[2], link[1], link[2], KEYS[2]) then
  return {'revoked', user[1], user[2]}
end
return {'ok', user[1], user[2], '1', link[1], link[2], link[3] or '', link[4] or '', link[5] or ''}
