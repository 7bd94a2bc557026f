-- Example route script: serial failover over carrier gateways, with
-- per-attempt number rewriting and an on_failure hook (doc/lua-api.md, "The
-- call object" and "Hooks the switch calls").
--
-- The gateway names are those of cfg/examples/carrier.cfg. Try it: in a copy
-- of that cfg, set
--   script = ../../scripts/examples/failover.lua
-- (relative to the cfg file) and run `sipswitch --check -c THAT.cfg`.
--
-- What the switch does on its own (PARAMETERS.md section 1, VOS3000's
-- defaults): busy (486/600) and a failure after early media (SDP in a 180 or
-- 183) end the call with that code; any other failure moves on to the next
-- gateway, and on_failure is asked first. A timeout counts as 408.

-- Customers send national numbers ("02079460000") or international ones
-- ("00442079460000", "+442079460000"): make them E.164 without '+'.
local function e164(number, country)
  if number:sub(1, 1) == "+" then return number:sub(2) end
  if number:sub(1, 2) == "00" then return number:sub(3) end
  if number:sub(1, 1) == "0" then return country .. number:sub(2) end
  return number
end

-- Gateway pools by destination country code (longest match first). Each
-- element is a gateway name, or a table with per-attempt overrides:
--   callee          the number sent to that gateway (Request-URI and To)
--   caller          the number in From for that gateway
--   invite_timeout  seconds to wait for any response (1-300)
local function chain_for(callee)
  if callee:find("^44") then
    return {
      -- carrierA wants the international prefix, and answers fast or never
      { gateway = "carrierA", callee = "00" .. callee, invite_timeout = 3 },
      "carrierB",
    }
  elseif callee:find("^33") then
    return { "carrierC", "carrierB" }
  end
  return { "carrierB", "carrierC" }
end

function on_invite(call)
  local callee = e164(call.callee, "44")
  if callee == "" then
    return call:reject(404, "No number") -- a Request-URI without a user part
  end
  if callee:find("^1900") or callee:find("^1976") then
    return call:reject(403, "Premium numbers barred")
  end
  call:set_callee(callee)
  local caller = e164(call.caller, "44")
  if caller ~= "" then -- set_caller refuses an empty number (anonymous From)
    call:set_caller(caller)
  end
  -- a header of the INVITE, here only to log where the call came from
  local ua = call:header("User-Agent") or "?"
  sw.log("info", ("call %d from %s (%s, %s): %s -> %s"):format(
    call.id, call.source, call.source_ip, ua, call.caller, callee))
  return chain_for(callee)
end

-- Codes that mean "this number cannot be reached", whoever we ask: trying
-- another carrier only delays the caller's answer.
local final_codes = { [404] = true, [484] = true, [604] = true }

function on_failure(call, attempt)
  sw.log("notice", ("call %d: attempt %d via %s (%s) failed: %d %s"):format(
    call.id, attempt.index, attempt.gateway, attempt.callee, attempt.code, attempt.reason))
  if final_codes[attempt.code] then
    return "stop" -- the caller gets this attempt's code
  end
  if attempt.gateway == "carrierA" and attempt.code == 408 then
    -- carrierA did not answer at all: it is probably down, so give its
    -- traffic to carrierC before the rest of the chain
    return { "carrierC", "carrierB" }
  end
  return nil -- the switch's rules: the next gateway of the chain
end
