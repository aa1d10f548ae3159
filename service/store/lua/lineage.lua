-- Shared lineage check, prepended to the scripts that verify or mint a child
-- token (one minted while authenticated by another token; README "Confinement
-- is inherited"). A child dies with its parent without anyone finding it:
-- every named ancestor's record (same user, same hash slot) must still exist
-- and not be revoked, and the temporary generation its chain was minted under
-- (if any) must still be the user's current one.
--
-- lineage_ok(prefix, ancestors, generation, generation_key) -> boolean
--   prefix: the user's named-record key prefix ('<p>:{u:<id>}:tok:');
--   ancestors: token ids separated by spaces ('' or false: none);
--   generation: a temporary generation ('' or false: none).
local function lineage_ok(prefix, ancestors, generation, generation_key)
  if ancestors and ancestors ~= '' then
    for tid in string.gmatch(ancestors, '[^ ]+') do
      -- false when the record is gone (deleted or expired), '1' when revoked.
      if redis.call('HGET', prefix .. tid, 'revoked') ~= '0' then
        return false
      end
    end
  end
  if generation and generation ~= '' then
    if (redis.call('GET', generation_key) or '0') ~= generation then
      return false
    end
  end
  return true
end
