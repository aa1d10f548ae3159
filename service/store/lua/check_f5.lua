-- Is an F5 token still good? The application must exist, be enabled and be of
-- the token's generation, and the token's record must exist.
-- KEYS: 1 application, 2 record. ARGV: 1 the token's generation.
-- Reply: {status, linked, role generation}; status ok | noapp | disabled |
-- revoked | norecord; linked '1' when the record says the token has a link
-- record (check_owner.lua); the role generation the token was minted under
-- ('' if minted as admin), which the caller compares with the current one
-- (the namespace's slot, same batch).
local app = redis.call('HMGET', KEYS[1], 'doc', 'disabled', 'deleted', 'gen')
if not app[1] or app[3] == '1' then
  return {'noapp', '0', ''}
end
if app[2] == '1' then
  return {'disabled', '0', ''}
end
if (app[4] or '0') ~= ARGV[1] then
  return {'revoked', '0', ''}
end
local rec = redis.call('HMGET', KEYS[2], 'uid', 'linked', 'rgen')
if not rec[1] then
  return {'norecord', '0', ''}
end
return {'ok', rec[2] or '0', rec[3] or ''}
