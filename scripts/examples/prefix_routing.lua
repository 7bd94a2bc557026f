-- Example route script: choose the gateways of a call by the longest
-- matching prefix of the dialled number (doc/lua-api.md, "Prefix tables").
--
-- Try it: in a copy of cfg/sipswitch.cfg, set
--   script = ../scripts/examples/prefix_routing.lua
-- (relative to the cfg file) and run `sipswitch --check -c THAT.cfg`: a bad
-- line in prefixes.csv refuses the script with "prefixes.csv:LINE: reason".

-- Loaded once, at the top level: sw.prefix.load reads a file, which calls
-- must never do. The path is relative to this script's directory.
local routes = sw.prefix.load("prefixes.csv")
sw.log("info", ("prefix_routing: %d prefixes"):format(#routes))

-- A value is the rest of its CSV line, "gateways,description". Prefixes with
-- the same text share one value string, so each distinct value is split into
-- a chain only once, on first use.
local chains = {}

local function chain_of(value)
  local chain = chains[value]
  if not chain then
    chain = {}
    for gateway in value:match("^[^,]*"):gmatch("[^|]+") do
      chain[#chain + 1] = gateway
    end
    chains[value] = chain
  end
  return chain
end

function on_invite(call)
  -- "+442079460000" and "442079460000" look up alike: a leading '+' is
  -- skipped and the lookup stops at the first non-digit.
  local value, prefix = routes:lookup(call.callee or "")
  if not value then
    return call:reject(404, "No route")
  end
  local chain = chain_of(value)
  if chain[1] == "BARRED" then
    sw.log("info", ("%s barred by prefix %s"):format(call.callee, prefix))
    return call:reject(403, "Destination barred")
  end
  return chain
end
