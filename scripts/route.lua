-- sipswitch route script. Reference: doc/lua-api.md; examples: scripts/examples/
--
-- on_invite(call) runs for every new call from a [mapping] customer: return a
-- chain of [gateway] names to try in order, or reject the call.

sw.log("info", "route script loaded (sipswitch " .. sw.version .. ")")

function on_invite(call)
  -- premium-rate numbers are barred
  if call.callee:find("^1900") then
    return call:reject(403, "Premium numbers barred")
  end
  -- carrier1 first; carrier2 if carrier1 fails (busy and early media stop
  -- the switching, as on VOS3000)
  return { "carrier1", "carrier2" }
end
