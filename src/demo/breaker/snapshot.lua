local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local h = redis.call('HMGET', KEYS[1], 'state', 'failures', 'opened_at', 'opened_total')
local state = h[1] or 'closed'
local opened_at = tonumber(h[3] or 0)
if state == 'open' and now - opened_at >= tonumber(ARGV[1]) then
  state = 'half_open'
end
local in_flight = redis.call('ZCOUNT', KEYS[2], '(' .. now, '+inf')
return {state, tonumber(h[2] or 0), in_flight, tonumber(h[4] or 0)}
