---@meta octogen.resty
-- `require "octogen.resty"`: see the octogen.resty class in ../octogen.d.lua.

---@type octogen.resty
local resty

return resty
