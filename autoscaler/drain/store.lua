-- One Logplex batch, added atomically: the frame id first, then every slot hash.
-- KEYS[1]   the frame-id key (remembered with SET NX EX; unused when ARGV[1] is 0)
-- KEYS[2..] the slot hashes
-- ARGV[1]   seconds the frame id is remembered; 0: the batch had no frame id
-- ARGV[2]   seconds a slot hash lives after this write
-- then, for each slot hash in KEYS order: the number of counts, the number of latest
-- values, the counts as field, amount pairs (HINCRBY), the latest values as field, value
-- pairs (HSET).
-- Returns 1 when the batch was added, 0 when its frame id was already there (a retry).
local frame_ttl = tonumber(ARGV[1])
if frame_ttl > 0 then
  if not redis.call('SET', KEYS[1], '1', 'NX', 'EX', frame_ttl) then
    return 0
  end
end
local slot_ttl = ARGV[2]
local at = 3
for k = 2, #KEYS do
  local key = KEYS[k]
  local counts = tonumber(ARGV[at])
  local latest = tonumber(ARGV[at + 1])
  at = at + 2
  for _ = 1, counts do
    redis.call('HINCRBY', key, ARGV[at], ARGV[at + 1])
    at = at + 2
  end
  for _ = 1, latest do
    redis.call('HSET', key, ARGV[at], ARGV[at + 1])
    at = at + 2
  end
  redis.call('EXPIRE', key, slot_ttl)
end
return 1
