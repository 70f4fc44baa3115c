-- One read of Celery queues on a Redis broker (kombu's layout); loaded by
-- autoscaler/signals/celery/redis.py. Read-only: no KEYS, no writes.
--
-- KEYS: the list keys (queue x priority step), then the unacked hash.
-- ARGV: now, tail window, window bytes, unacked limit, binding key prefix, sep, stamp
--       header, then the queue names.
-- Returns, per list:
--   {LLEN, future ETAs in the window, examined, no ready task in the window (0/1),
--    tail candidate|false, head candidate|false}
-- where a candidate is {id, our stamp, properties.published_at, run_at, eta} (false when
-- absent; numbers as %.17g text, since Lua numbers come back truncated to integers);
-- then {HLEN unacked, entries examined, entries of our queues without a future ETA}.

local now = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local window_bytes = tonumber(ARGV[3])
local limit = tonumber(ARGV[4])
local binding_prefix = ARGV[5]
local sep = ARGV[6]
local stamp_header = ARGV[7]
local wanted = {}
for i = 8, #ARGV do wanted[ARGV[i]] = true end

local function days_from_civil(y, m, d)
  if m <= 2 then y = y - 1 end
  local era = math.floor(y / 400)
  local yoe = y - era * 400
  local mp = (m + 9) % 12
  local doy = math.floor((153 * mp + 2) / 5) + d - 1
  local doe = yoe * 365 + math.floor(yoe / 4) - math.floor(yoe / 100) + doy
  return era * 146097 + doe - 719468
end

-- ISO 8601 as Python's isoformat writes it (offset, 'Z' or naive = UTC) -> epoch seconds
local function epoch(text)
  local y, mo, d, h, mi, s, rest = string.match(text,
    '^(%d%d%d%d)%-(%d%d)%-(%d%d)[T ](%d%d):(%d%d):(%d%d%.?%d*)(.*)$')
  if not y then return nil end
  local offset = 0
  if rest ~= '' and rest ~= 'Z' then
    local sign, oh, om, osec = string.match(rest, '^([+-])(%d%d):?(%d%d):?(%d*%.?%d*)$')
    if not sign then return nil end
    offset = tonumber(oh) * 3600 + tonumber(om) * 60 + (tonumber(osec) or 0)
    if sign == '-' then offset = -offset end
  end
  return days_from_civil(tonumber(y), tonumber(mo), tonumber(d)) * 86400
    + tonumber(h) * 3600 + tonumber(mi) * 60 + tonumber(s) - offset
end

-- The first "eta" key of a message is headers.eta (the body is base64, and Celery puts
-- eta before every free-form header). nil: no ETA; a number: its epoch; error if unreadable.
local function eta_of(msg)
  local e = string.find(msg, '"eta":', 1, true)
  if not e then return nil end
  e = e + 5
  local c = string.sub(msg, e + 1, e + 1)
  while c == ' ' or c == '\t' or c == '\r' or c == '\n' do
    e = e + 1
    c = string.sub(msg, e + 1, e + 1)
  end
  if c ~= '"' then return nil end
  local close = string.find(msg, '"', e + 2, true)
  local value = close and epoch(string.sub(msg, e + 2, close - 1))
  if not value then
    return redis.error_reply('unreadable eta in a Celery message: ' .. string.sub(msg, e + 1, e + 40))
  end
  return value
end

local function field(value)
  if value == nil or value == cjson.null then return false end
  if type(value) == 'number' then return string.format('%.17g', value) end
  if type(value) == 'string' then return value end
  return '?'
end

local function candidate(msg)
  local ok, m = pcall(cjson.decode, msg)
  if not ok or type(m) ~= 'table' then
    return redis.error_reply('a Celery message is not JSON: ' .. string.sub(msg, 1, 60))
  end
  local h = type(m.headers) == 'table' and m.headers or {}
  local p = type(m.properties) == 'table' and m.properties or {}
  return {field(h.id), field(h[stamp_header]), field(p.published_at), field(h.run_at), field(h.eta)}
end

local out = {}
for k = 1, #KEYS - 1 do
  local key = KEYS[k]
  local length = redis.call('LLEN', key)
  local future, examined, bytes, none_ready = 0, 0, 0, 0
  local tail, head = false, false
  local tail_msg, tail_at, last_msg, last_ready = nil, 0, nil, false
  -- From the tail (the oldest) towards the head, ten at a time: at most `window`
  -- messages, and no further chunk once `window_bytes` have been examined.
  while examined < window and examined < length and bytes < window_bytes do
    local count = math.min(10, window - examined)
    local chunk = redis.call('LRANGE', key, -(examined + count), -(examined + 1))
    if #chunk == 0 then break end
    for i = #chunk, 1, -1 do
      local msg = chunk[i]
      examined = examined + 1
      bytes = bytes + #msg
      local eta = eta_of(msg)
      if type(eta) == 'table' then return eta end
      last_msg, last_ready = msg, not (eta and eta > now)
      if not last_ready then
        future = future + 1
      elseif not tail_msg then
        tail_msg, tail_at = msg, examined
      end
    end
  end
  if tail_msg then
    tail = candidate(tail_msg)
    if tail.err then return tail end
  elseif length > examined then
    none_ready = 1
  end
  -- The head (index 0), where a task rejected with requeue goes back.
  local first, first_ready = nil, false
  if length > examined then
    first = redis.call('LINDEX', key, 0)
    if first then
      local eta = eta_of(first)
      if type(eta) == 'table' then return eta end
      first_ready = not (eta and eta > now)
    end
  elseif examined > tail_at then
    first, first_ready = last_msg, last_ready
  end
  if first and first_ready then
    head = candidate(first)
    if head.err then return head end
  end
  out[#out + 1] = {length, future, examined, none_ready, tail, head}
end

local tables = {}
local function routed_to_us(exchange, routing_key)
  if exchange == '' then return wanted[routing_key] == true end
  local bindings = tables[exchange]
  if not bindings then
    bindings = {}
    for _, member in ipairs(redis.call('SMEMBERS', binding_prefix .. exchange)) do
      local a = string.find(member, sep, 1, true)
      local b = a and string.find(member, sep, a + #sep, true)
      if b then
        bindings[#bindings + 1] = {string.sub(member, 1, a - 1), string.sub(member, b + #sep)}
      end
    end
    tables[exchange] = bindings
  end
  local bound = false
  for _, binding in ipairs(bindings) do
    if binding[1] == routing_key then
      bound = true
      if wanted[binding[2]] then return true end
    end
  end
  if bound then return false end
  return wanted[routing_key] == true
end

local unacked = KEYS[#KEYS]
local total = redis.call('HLEN', unacked)
local values
if total <= limit then
  values = redis.call('HVALS', unacked)
else
  values = {}
  local cursor = '0'
  repeat
    local page = redis.call('HSCAN', unacked, cursor, 'COUNT', 100)
    cursor = page[1]
    for i = 2, #page[2], 2 do values[#values + 1] = page[2][i] end
  until cursor == '0' or #values >= limit
end
local mine = 0
for _, value in ipairs(values) do
  -- The value ends with ', "exchange", "routing_key"]': match it reversed, anchored.
  local kr, xr = string.match(string.reverse(string.sub(value, -300)), '^%s*%]"([^"]*)"%s*,%s*"([^"]*)"')
  if not kr then
    return redis.error_reply('an entry of the Celery unacked hash is not [message, exchange, routing_key]')
  end
  local eta = eta_of(value)
  if type(eta) == 'table' then return eta end
  if not (eta and eta > now) and routed_to_us(string.reverse(xr), string.reverse(kr)) then mine = mine + 1 end
end
out[#out + 1] = {total, #values, mine}
return out
