-- The foreign part of a token's lineage: an admin's token minted it for
-- another user, so the chain it must die with lies in the admin's slot, which
-- the token's own check cannot read. Run there, right after that check.
-- KEYS: 1 the admin (user), 2 the admin's temporary generation.
-- ARGV: 1 the admin's named-record key prefix, 2 ancestors, 3 generation.
-- Reply: {status}; ok | revoked | nouser.
if redis.call('EXISTS', KEYS[1]) == 0 then
  return {'nouser'}
end
if not lineage_ok(ARGV[1], ARGV[2], ARGV[3], KEYS[2]) then
  return {'revoked'}
end
return {'ok'}
