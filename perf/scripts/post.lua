-- wrk script: POST /chats/1/messages, a new Idempotency-Key every time.
local n_threads = 0
function setup(thread)
  n_threads = n_threads + 1
  thread:set("tid", n_threads)
end
local prefix = string.format("%d-%d", os.time(), math.floor(os.clock() * 1e6))
local counter = 0
request = function()
  counter = counter + 1
  return wrk.format("POST", "/chats/1/messages",
    { ["Content-Type"] = "application/json",
      ["Idempotency-Key"] = prefix .. "-" .. tostring(tid) .. "-" .. counter },
    '{"text":"hello from wrk"}')
end
