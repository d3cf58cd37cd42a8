local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
local removed = redis.call('ZREM', KEYS[2], ARGV[1])
local h = redis.call('HMGET', KEYS[1], 'state', 'failures', 'opened_total', 'last_failure', 'seq')
local state = h[1] or 'closed'
local failures = tonumber(h[2] or 0)
local opened_total = tonumber(h[3] or 0)
local last_failure = tonumber(h[4] or 0)
local seq = tonumber(h[5] or 0)
local id = tonumber(ARGV[1])
local trial = ARGV[2] == '1'
local success = ARGV[3] == '1'
if removed == 1 then
  if trial then
    if state == 'half_open' then
      if success then
        state = 'closed'
        failures = 0
        redis.call('HSET', KEYS[1], 'state', state, 'failures', 0)
      else
        state = 'open'
        opened_total = opened_total + 1
        redis.call('HSET', KEYS[1], 'state', state, 'opened_at', now, 'opened_total', opened_total,
          'last_failure', seq)
      end
    end
  elseif state == 'closed' then
    if success then
      if id > last_failure and failures > 0 then
        failures = 0
        redis.call('HSET', KEYS[1], 'failures', 0)
      end
    else
      failures = failures + 1
      redis.call('HSET', KEYS[1], 'failures', failures, 'last_failure', seq)
      if failures >= tonumber(ARGV[4]) then
        state = 'open'
        opened_total = opened_total + 1
        redis.call('HSET', KEYS[1], 'state', state, 'opened_at', now, 'opened_total', opened_total)
      end
    end
  end
  redis.call('PEXPIRE', KEYS[1], ARGV[5])
  redis.call('PEXPIRE', KEYS[2], ARGV[5])
end
return {state, failures, redis.call('ZCARD', KEYS[2]), opened_total}
