"""Dynamic batching: concurrent requests to one model share a model call.

Examples wait in one queue per length bucket (`key`), so a batch holds examples of
one padded shape and nobody pays for the longest line of a mixed batch. A free
worker takes the fullest bucket (the bucket whose first example has waited longest
among equals, or once that example has waited `max_delay`) and runs the largest power
of two of its examples up to `max_batch` (the sizes warm-up compiled, and no padding
with copies), in a worker thread, so the event loop keeps accepting requests
meanwhile. While batches run the queues fill by themselves, so under load batches
grow without anyone waiting for a timer; `max_wait` > 0 makes a lone example wait for
company. `choose_batch_limit` picks `max_batch` from measured call times.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import dataclasses
import time
from collections.abc import Callable, Hashable, Sequence
from typing import Any


_NOTHING = object()  # No bucket (None is a valid key).


class Overloaded(Exception):
  """The queue is full: the caller should retry later (HTTP 503)."""


@dataclasses.dataclass
class _Pending:
  item: Any
  future: asyncio.Future
  enqueued: float


def batch_sizes(max_batch: int) -> list[int]:
  """The batch sizes a Batcher forms: powers of two up to `max_batch`."""
  return [1 << i for i in range(max(1, max_batch).bit_length())]


def choose_batch_limit(seconds: dict[int, float], gain: float = 0.05) -> int:
  """The batch size to stop at, from measured seconds per call of each size.

  Bigger batches pay while lines/s grows; past the knee they only add latency (and on
  a CPU, a batch that spills the caches gets slower per line). The smallest size
  within `gain` of the best lines/s is the limit.
  """
  rates = {size: size / s for size, s in seconds.items()}
  best = max(rates.values())
  return min(size for size, rate in rates.items() if rate >= best / (1 + gain))


class Batcher:
  """Runs `run(items) -> (results, stages)` on batches of concurrently submitted items.

  `run` returns one result per item and a dict of stage name -> seconds for the whole
  call (e.g. padding, the model, formatting); each item's request sees them with its
  wait in the queue under "queue".

  Attributes:
    max_batch: most items per call of `run`.
    max_wait: seconds the first item of a batch waits for company.
    max_delay: seconds an item may be passed over for fuller buckets.
    max_queue: items allowed to wait; beyond it `submit` raises Overloaded.
  """

  def __init__(self, run: Callable[[list[Any]], tuple[Sequence[Any], dict[str, float]]], *,
               max_batch: int = 32, max_wait: float = 0.0, max_delay: float = 0.5,
               max_queue: int = 1024,
               workers: int = 1, key: Callable[[Any], Hashable] = lambda item: None,
               on_batch: Callable[[int, float, list[float]], None] | None = None):
    self._run, self._key = run, key
    self.max_batch, self.max_wait, self.max_queue = max_batch, max_wait, max_queue
    self.max_delay = max_delay
    self._workers = workers
    self._on_batch = on_batch
    self._buckets: dict[Hashable, collections.deque[_Pending]] = {}
    self._queued = 0
    self._changed: asyncio.Condition | None = None
    self._tasks: list[asyncio.Task] = []
    self._executor: concurrent.futures.ThreadPoolExecutor | None = None

  def start(self) -> None:
    """Starts the workers on the running event loop."""
    self._changed = asyncio.Condition()
    self._executor = concurrent.futures.ThreadPoolExecutor(self._workers,
                                                           thread_name_prefix="htr-batch")
    self._tasks = [asyncio.create_task(self._work()) for _ in range(self._workers)]

  async def stop(self) -> None:
    for task in self._tasks:
      task.cancel()
    await asyncio.gather(*self._tasks, return_exceptions=True)
    self._tasks = []
    if self._executor is not None:
      self._executor.shutdown(wait=True)

  async def submit(self, items: Sequence[Any],
                   stages: dict[str, float] | None = None) -> list[Any]:
    """The results of `items`, in order, once their batches have run; `stages` (if
    given) gets each stage's seconds, the slowest of the items' batches."""
    if self._changed is None:
      raise RuntimeError("Batcher.start() was not called")
    if self._queued + len(items) > self.max_queue:
      raise Overloaded(f"{self._queued} examples already queued")
    loop = asyncio.get_running_loop()
    now = time.perf_counter()
    pending = [_Pending(item, loop.create_future(), now) for item in items]
    for p in pending:
      self._buckets.setdefault(self._key(p.item), collections.deque()).append(p)
    self._queued += len(pending)
    async with self._changed:
      self._changed.notify_all()
    done = await asyncio.gather(*(p.future for p in pending))
    if stages is not None:
      for _, item_stages in done:
        for stage, seconds in item_stages.items():
          stages[stage] = max(stages.get(stage, 0.0), seconds)
    return [result for result, _ in done]

  def _next(self) -> Hashable:
    """The key of the bucket to run next (dropping items whose client left, and empty
    buckets), `_NOTHING` if nothing waits: the one that makes the largest batch, the
    oldest first among those, unless an item has waited `max_delay`: then its bucket.
    Bigger batches are cheaper per line."""
    ranked = []
    for key, bucket in list(self._buckets.items()):
      while bucket and bucket[0].future.done():
        bucket.popleft()
        self._queued -= 1
      if not bucket:
        del self._buckets[key]
      else:
        size = batch_sizes(min(len(bucket), self.max_batch))[-1]
        ranked.append((bucket[0].enqueued, -size, key))
    if not ranked:
      return _NOTHING
    first, _, oldest = min(ranked, key=lambda r: r[0])  # Keys need not be comparable.
    if time.perf_counter() - first >= self.max_delay:
      return oldest
    return min(ranked, key=lambda r: (r[1], r[0]))[2]

  async def _take(self) -> list[_Pending]:
    async with self._changed:
      while True:
        while (key := self._next()) is _NOTHING:
          await self._changed.wait()
        deadline = self._buckets[key][0].enqueued + self.max_wait
        while (len(self._buckets.get(key, ())) < self.max_batch
               and (remaining := deadline - time.perf_counter()) > 0):
          try:
            await asyncio.wait_for(self._changed.wait(), remaining)
          except TimeoutError:
            break
        if bucket := self._buckets.get(key):  # Other workers may have emptied it.
          break
      size = batch_sizes(min(len(bucket), self.max_batch))[-1]
      batch = [bucket.popleft() for _ in range(size)]
      self._queued -= size
      return [p for p in batch if not p.future.done()]

  async def _work(self) -> None:
    loop = asyncio.get_running_loop()
    while True:
      batch = await self._take()
      if not batch:
        continue
      start = time.perf_counter()
      try:
        results, stages = await loop.run_in_executor(self._executor, self._run,
                                                      [p.item for p in batch])
      except Exception as e:  # noqa: BLE001  (handed to every waiting request)
        for p in batch:
          if not p.future.done():
            p.future.set_exception(e)
        continue
      if self._on_batch is not None:
        self._on_batch(len(batch), time.perf_counter() - start,
                       [start - p.enqueued for p in batch])
      for p, result in zip(batch, results, strict=True):
        if not p.future.done():
          p.future.set_result((result, {"queue": start - p.enqueued, **stages}))
