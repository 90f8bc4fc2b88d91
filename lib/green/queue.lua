-- green.queue: Queue, LightQueue, LifoQueue, PriorityQueue and the Full and
-- Empty errors they raise. All in C (host/queue.c): queues are hot paths.
local core = require "green.core"

return {
  Queue = core.Queue,
  LightQueue = core.LightQueue,
  LifoQueue = core.LifoQueue,
  PriorityQueue = core.PriorityQueue,
  Full = core.Full,
  Empty = core.Empty,
}
