-- Example route script: numbers normalised by the cfg's dial plans
-- (doc/lua-api.md, "Dial plans") before the call is routed, and rewritten
-- again for a carrier that wants them in its own format.
--
-- The plans live in cfg, where the privacy module's caller_dial_plan can use
-- them too; cfg/examples/carrier.cfg has these two:
--
--   [dialplan uk_e164]                    ; any UK number to +E.164
--   rule = if prefix + stop
--   rule = strip prefix 00
--   rule = if regex ^0[1-9] replace ^0 44
--   rule = add +
--
--   [dialplan carrierB_national]          ; +44... -> 0..., others 00...
--   rule = if prefix +44 replace ^\+44 0 stop
--   rule = replace ^\+ 00
--
-- Try it: in a copy of cfg/examples/carrier.cfg set
--   script = ../../scripts/examples/dialplan.lua
-- and run `sipswitch --check -c THAT.cfg`.

-- Called once at the top level: a plan name cfg lacks raises here, so the
-- script is refused at load (the running one keeps serving), not at the
-- first call.
for _, plan in ipairs({ "uk_e164", "carrierB_national" }) do
  sw.dialplan.apply(plan, "0")
end

function on_invite(call)
  -- "02079460000", "00442079460000" and "+442079460000" all become
  -- "+442079460000": one form for routing, the CDR and the carriers
  if call.caller ~= "" then
    call:set_caller(sw.dialplan.apply("uk_e164", call.caller))
  end
  local callee = sw.dialplan.apply("uk_e164", call.callee)
  call:set_callee(callee)
  if not callee:find("^%+44") then
    return call:reject(403, "UK destinations only")
  end
  -- carrierA takes E.164; carrierB, the backup, wants national numbers
  return {
    "carrierA",
    { gateway = "carrierB", callee = sw.dialplan.apply("carrierB_national", callee) },
  }
end
