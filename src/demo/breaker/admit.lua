local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local limit = tonumber(ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
local h = redis.call('HMGET', KEYS[1], 'state', 'failures', 'opened_at', 'opened_total')
local state = h[1] or 'closed'
local failures = tonumber(h[2] or 0)
local opened_at = tonumber(h[3] or 0)
local opened_total = tonumber(h[4] or 0)
local in_flight = redis.call('ZCARD', KEYS[2])
if state == 'open' and now - opened_at >= tonumber(ARGV[2]) then
  state = 'half_open'
  redis.call('HSET', KEYS[1], 'state', state)
end
local admit = false
if state == 'closed' then
  admit = failures + in_flight < limit
elseif state == 'half_open' then
  admit = in_flight == 0
end
if not admit then
  return {0, 0, {state, failures, in_flight, opened_total}}
end
local id = redis.call('HINCRBY', KEYS[1], 'seq', 1)
redis.call('ZADD', KEYS[2], now + tonumber(ARGV[3]), id)
redis.call('PEXPIRE', KEYS[1], ARGV[4])
redis.call('PEXPIRE', KEYS[2], ARGV[4])
local trial = 0
if state == 'half_open' then trial = 1 end
return {id, trial, {state, failures, in_flight + 1, opened_total}}
