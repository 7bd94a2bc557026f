-- Soak route script (bench/soak/run.sh): each call gets one of four gateway
-- chains, drawn at random with the shares below, so every kind of gateway
-- failure keeps happening for the whole run. The gateways are sipp and a
-- UDP black hole on loopback (run.sh writes their [gateway] sections):
--   ok       answers 200, holds until the caller's BYE
--   unavail  answers 503 Service Unavailable     -> failover to ok
--   silent   never answers (invite_timeout 2 s)  -> failover to ok
--   busy     answers 486 Busy Here: busy stops the switching (VOS3000's
--            default, SS_GATEWAY_SWITCH_STOP_AFTER_USER_BUSY = On), so the
--            caller gets 486 although ok follows in the chain. These are the
--            soak's intended failures.
-- The chain's name goes to the CDR (extra column soak_chain) so that
-- run.sh can check every record's outcome against what its chain must give.

local PERCENT_UNAVAILABLE_FIRST = 8
local PERCENT_SILENT_FIRST = 4
local PERCENT_BUSY = 6
-- the rest (82 %): { "ok" }

-- a fixed seed: two runs send the same sequence of chains
math.randomseed(20261121)

local CHAINS = {
  { name = "unavail_ok", upto = PERCENT_UNAVAILABLE_FIRST, gateways = { "unavail", "ok" } },
  { name = "silent_ok", upto = PERCENT_UNAVAILABLE_FIRST + PERCENT_SILENT_FIRST, gateways = { "silent", "ok" } },
  { name = "busy_ok", upto = PERCENT_UNAVAILABLE_FIRST + PERCENT_SILENT_FIRST + PERCENT_BUSY,
    gateways = { "busy", "ok" } },
}

function on_invite(call)
  local draw = math.random(100)
  for _, c in ipairs(CHAINS) do
    if draw <= c.upto then
      call:cdr_set("soak_chain", c.name)
      return c.gateways
    end
  end
  call:cdr_set("soak_chain", "ok")
  return { "ok" }
end
