"""Dynamic batching: concurrent requests to one model share a model call.

Examples wait in an asyncio queue; a worker takes the first, gathers whatever
else arrives within `max_wait` seconds (up to `max_batch`) and runs them as one
batch in a worker thread, so the event loop keeps accepting requests meanwhile.
While a batch runs, the next one fills up by itself, so under load batches grow
without anyone waiting for the timer. `max_batch=1` with several workers is the
"no batching" baseline: each request its own model call, calls in parallel.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
import time
from collections.abc import Callable, Sequence
from typing import Any


class Overloaded(Exception):
  """The queue is full: the caller should retry later (HTTP 503)."""


@dataclasses.dataclass
class _Pending:
  item: Any
  future: asyncio.Future
  enqueued: float


class Batcher:
  """Runs `run(items) -> results` on batches of concurrently submitted items.

  Attributes:
    max_batch: most items per call of `run`.
    max_wait: seconds the first item of a batch waits for company.
    max_queue: items allowed to wait; beyond it `submit` raises Overloaded.
  """

  def __init__(self, run: Callable[[list[Any]], Sequence[Any]], *, max_batch: int = 32,
               max_wait: float = 0.005, max_queue: int = 1024, workers: int = 1,
               on_batch: Callable[[int, float, list[float]], None] | None = None):
    self._run = run
    self.max_batch, self.max_wait, self.max_queue = max_batch, max_wait, max_queue
    self._workers = workers
    self._on_batch = on_batch
    self._queue: asyncio.Queue[_Pending] | None = None
    self._tasks: list[asyncio.Task] = []
    self._executor: concurrent.futures.ThreadPoolExecutor | None = None

  def start(self) -> None:
    """Starts the workers on the running event loop."""
    self._queue = asyncio.Queue()
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

  async def submit(self, items: Sequence[Any]) -> list[Any]:
    """The results of `items`, in order, once their batches have run."""
    if self._queue is None:
      raise RuntimeError("Batcher.start() was not called")
    if self._queue.qsize() + len(items) > self.max_queue:
      raise Overloaded(f"{self._queue.qsize()} examples already queued")
    loop = asyncio.get_running_loop()
    now = time.perf_counter()
    pending = [_Pending(item, loop.create_future(), now) for item in items]
    for p in pending:
      self._queue.put_nowait(p)
    return list(await asyncio.gather(*(p.future for p in pending)))

  async def _gather(self) -> list[_Pending]:
    batch = [await self._queue.get()]
    deadline = time.perf_counter() + self.max_wait
    while len(batch) < self.max_batch:
      if not self._queue.empty():
        batch.append(self._queue.get_nowait())
        continue
      remaining = deadline - time.perf_counter()
      if remaining <= 0:
        break
      try:
        batch.append(await asyncio.wait_for(self._queue.get(), remaining))
      except TimeoutError:
        break
    return [p for p in batch if not p.future.done()]  # Drop those whose client left.

  async def _work(self) -> None:
    loop = asyncio.get_running_loop()
    while True:
      batch = await self._gather()
      if not batch:
        continue
      start = time.perf_counter()
      try:
        results = await loop.run_in_executor(self._executor, self._run,
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
          p.future.set_result(result)
