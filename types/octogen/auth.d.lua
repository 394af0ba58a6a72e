---@meta octogen.auth
-- `require "octogen.auth"`: see the octogen.auth class in ../octogen.d.lua.

---@type octogen.auth
local auth

return auth
