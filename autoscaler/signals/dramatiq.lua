-- One read of Dramatiq queues on Redis (dramatiq 2.x layout); loaded by
-- autoscaler/signals/dramatiq.py. Read-only: no KEYS, no writes.
--
-- KEYS: heartbeats, then 4 per queue (list, messages hash, delay list, delay hash).
-- ARGV: now (epoch ms), ack key prefix ("N:__acks__."), head window, delay window, then
--       the queue names (to build the ack keys).
-- Returns per queue: {LLEN, head, busy, due delayed count, oldest due eta | false} where
-- head is "" (no message found in the window), "j" (the message is not a JSON object),
-- "b" (no numeric message_timestamp) or the timestamp as text.

local now = tonumber(ARGV[1])
local acks_prefix = ARGV[2]
local head_window = tonumber(ARGV[3])
local delay_window = tonumber(ARGV[4])
local workers = redis.call('ZRANGE', KEYS[1], 0, -1)

local function decode(data)
  local ok, message = pcall(cjson.decode, data)
  if ok and type(message) == 'table' then
    return message
  end
  return nil
end

local out = {}
local q = 0
for i = 2, #KEYS, 4 do
  q = q + 1
  local list_key, msgs_key, delay_key, delay_msgs_key = KEYS[i], KEYS[i + 1], KEYS[i + 2], KEYS[i + 3]
  local queue = ARGV[4 + q]
  local length = redis.call('LLEN', list_key)

  local head = ''
  if length > 0 then
    for _, id in ipairs(redis.call('LRANGE', list_key, 0, head_window - 1)) do
      local data = redis.call('HGET', msgs_key, id)
      if data then
        local message = decode(data)
        if message == nil then
          head = 'j'
        elseif type(message['message_timestamp']) == 'number' then
          head = string.format('%.17g', message['message_timestamp'])
        else
          head = 'b'
        end
        break
      end
    end
  end

  local busy = 0
  for _, worker in ipairs(workers) do
    busy = busy + redis.call('SCARD', acks_prefix .. worker .. '.' .. queue)
  end

  local due = 0
  local oldest_due = false
  for _, id in ipairs(redis.call('LRANGE', delay_key, 0, delay_window - 1)) do
    local data = redis.call('HGET', delay_msgs_key, id)
    local message = data and decode(data)
    local options = message and message['options']
    local eta = type(options) == 'table' and options['eta']
    if type(eta) == 'number' and eta <= now then
      due = due + 1
      if oldest_due == false or eta < oldest_due then
        oldest_due = eta
      end
    end
  end
  if oldest_due then
    oldest_due = string.format('%.17g', oldest_due)
  end

  out[#out + 1] = {length, head, busy, due, oldest_due}
end
return out
