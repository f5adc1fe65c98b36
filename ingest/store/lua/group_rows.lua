-- The rows of a group list, read in the same call that chose them: for each group id, its hash
-- (flat field/value array; empty when the group is gone), the hash of its newest alert (empty
-- when none) and whether its route is still stored (1/0; a deleted route shows as null).
-- gp, ap, rp: the group, alert and route key prefixes.
local function group_rows(ids, gp, ap, rp)
  local groups, alerts, routes = {}, {}, {}
  for i, id in ipairs(ids) do
    local g = redis.call('HGETALL', gp .. id)
    local last, route = nil, nil
    for j = 1, #g, 2 do
      local name = g[j]
      if name == 'last_alert_id' then last = g[j + 1] elseif name == 'route_id' then route = g[j + 1] end
    end
    groups[i] = g
    alerts[i] = (last and last ~= '') and redis.call('HGETALL', ap .. last) or {}
    routes[i] = (route and route ~= '') and redis.call('EXISTS', rp .. route) or 0
  end
  return {groups, alerts, routes}
end
