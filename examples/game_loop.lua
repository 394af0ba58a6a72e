-- A game loop that never waits for the network: requests are started,
-- and each frame calls poll(0) once, which only does what is ready.
--   lua5.4 examples/game_loop.lua
local octogen = require "octogen"
local socket_ok, socket = pcall(require, "socket")   -- only for the frame clock
local now = socket_ok and socket.gettime or os.clock

local client = octogen.client { base_url = os.getenv("OCTOGEN_BASE_URL") }
local FRAME = 1 / 60

-- Ask for a page of each of four queries, all four at once.
local pending = {}
for _, q in ipairs { "hoodie", "jacket", "dress", "sneaker" } do
    pending[#pending + 1] = { q = q, req = client:start("search_products", { q = q, limit = 5 }) }
end

local frame, worst_poll, started = 0, 0, now()
while #pending > 0 and frame < 600 do
    frame = frame + 1
    local frame_start = now()

    local t = now()
    client:poll(0)                       -- never waits
    worst_poll = math.max(worst_poll, now() - t)

    for i = #pending, 1, -1 do
        local p = pending[i]
        if p.req:done() then
            local page, err = p.req:result()   -- already there: no wait
            if page then
                print(("frame %3d: %-8s %d items, first: %s"):format(frame, p.q, #page.items,
                    page.items[1] and page.items[1].title or "-"))
            else
                print(("frame %3d: %-8s failed: %s"):format(frame, p.q, tostring(err)))
            end
            table.remove(pending, i)
        end
    end

    -- ... update and draw the game here ...
    local left = FRAME - (now() - frame_start)
    if left > 0 and socket_ok then socket.sleep(left) end
end
print(("%d frames, %.0f ms, worst poll(0) %.2f ms"):format(frame, (now() - started) * 1000, worst_poll * 1000))
