-- One read of RQ queues (rq 3.0 layout); loaded by autoscaler/signals/rq.py. Read-only.
--
-- KEYS: 4 per queue (list, scheduled, wip, ready).
-- ARGV: now, job key prefix, head window, tail window.
-- Returns per queue:
--   {LLEN, due scheduled count, oldest due score|false, unexpired wip count,
--    ready count, oldest ready score|false, {id1, enqueued_at1|false, id2, ...}}

local now = ARGV[1]
local job_prefix = ARGV[2]
local head = tonumber(ARGV[3])
local tail = tonumber(ARGV[4])
local out = {}
for i = 1, #KEYS, 4 do
  local list_key, scheduled_key, wip_key, ready_key = KEYS[i], KEYS[i + 1], KEYS[i + 2], KEYS[i + 3]
  local length = redis.call('LLEN', list_key)
  local due = redis.call('ZCOUNT', scheduled_key, '-inf', now)
  local oldest_due = redis.call('ZRANGEBYSCORE', scheduled_key, '-inf', now, 'WITHSCORES', 'LIMIT', 0, 1)
  local busy = redis.call('ZCOUNT', wip_key, '(' .. now, '+inf')
  local ready = redis.call('ZCARD', ready_key)
  local oldest_ready = redis.call('ZRANGE', ready_key, 0, 0, 'WITHSCORES')
  local ids = redis.call('LRANGE', list_key, 0, head - 1)
  if length > head then
    local first = math.max(head, length - tail)
    for _, id in ipairs(redis.call('LRANGE', list_key, first, -1)) do
      ids[#ids + 1] = id
    end
  end
  local stamps = {}
  for _, id in ipairs(ids) do
    stamps[#stamps + 1] = id
    stamps[#stamps + 1] = redis.call('HGET', job_prefix .. id, 'enqueued_at')
  end
  out[#out + 1] = {length, due, oldest_due[2] or false, busy, ready, oldest_ready[2] or false, stamps}
end
return out
