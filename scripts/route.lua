-- sipswitch route script. Reference: doc/lua-api.md
--
-- The switch calls functions defined here. The call object and on_invite()
-- arrive with the call engine; until then the script is loaded, checked and
-- reloaded (SIGHUP) like any other, and may log.

sw.log("info", "route script loaded (sipswitch " .. sw.version .. ")")

-- Decide where a new call goes: return a chain of gateway names, or reject.
function on_invite(call)
  return {}
end
