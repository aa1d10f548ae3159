-- Record the lineage of a child token whose own record is not in its owner's
-- slot (an F5 token), whole, with the child's lifetime.
-- KEYS: 1 link record. ARGV: 1 ancestors, 2 generation, 3 ttl s. Reply: 1.
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'anc', ARGV[1], 'pgen', ARGV[2])
redis.call('EXPIRE', KEYS[1], ARGV[3])
return 1
