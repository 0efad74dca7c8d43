"""Micro-batching: requests that arrive together share one model call."""

from __future__ import annotations

import asyncio
import contextlib
import functools
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["MicroBatcher"]


@dataclass
class _Job:
    image: np.ndarray
    source: str | None
    explain: bool
    tta: bool
    future: asyncio.Future[Any]


class MicroBatcher:
    """Collect prepared images for up to ``max_wait`` seconds (or ``max_batch`` images) and
    predict them in one :meth:`xraycls.Classifier.predict_prepared` call.

    The model runs on one worker thread, so the event loop keeps accepting and decoding
    requests while a batch is computed; the next batch forms meanwhile.

    Args:
        classifier: A :class:`xraycls.Classifier`.
        max_batch: Most images per model call.
        max_wait: Longest a request waits for others to join its batch, in seconds.

    Examples:
        >>> batcher = MicroBatcher(object(), max_batch=16, max_wait=0.01)
        >>> batcher.calls, batcher.images
        (0, 0)
    """

    def __init__(self, classifier: Any, *, max_batch: int = 32, max_wait: float = 0.01) -> None:
        self.classifier = classifier
        self.max_batch = max(1, int(max_batch))
        self.max_wait = max(0.0, float(max_wait))
        #: Model calls and images predicted so far (``GET /health`` reports them).
        self.calls = 0
        self.images = 0
        self._queue: asyncio.Queue[_Job] | None = None
        self._task: asyncio.Task[None] | None = None
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="xraycls-model")

    async def start(self) -> None:
        """Start the batching loop on the running event loop."""
        self._queue = asyncio.Queue()
        self._task = asyncio.get_running_loop().create_task(self._loop())

    async def stop(self) -> None:
        """Stop the loop; requests still queued fail with ``RuntimeError``."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        while self._queue is not None and not self._queue.empty():
            job = self._queue.get_nowait()
            if not job.future.done():
                job.future.set_exception(RuntimeError("the server is shutting down"))
        self._pool.shutdown(wait=True)

    async def predict(
        self,
        image: np.ndarray,
        *,
        source: str | None = None,
        explain: bool = False,
        tta: bool = False,
    ) -> Any:
        """Queue one prepared image and wait for its :class:`xraycls.predict.ImagePrediction`."""
        if self._queue is None:
            raise RuntimeError("MicroBatcher.start() was not awaited")
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        await self._queue.put(_Job(image, source, explain, tta, future))
        return await future

    async def _collect(self) -> list[_Job]:
        assert self._queue is not None
        loop = asyncio.get_running_loop()
        jobs = [await self._queue.get()]
        deadline = loop.time() + self.max_wait
        while len(jobs) < self.max_batch:
            if not self._queue.empty():
                jobs.append(self._queue.get_nowait())
                continue
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            try:
                jobs.append(await asyncio.wait_for(self._queue.get(), remaining))
            except asyncio.TimeoutError:
                break
        return jobs

    async def _loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            jobs = await self._collect()
            groups: dict[tuple[bool, bool], list[_Job]] = {}
            for job in jobs:
                if not job.future.cancelled():  # the client went away while waiting
                    groups.setdefault((job.explain, job.tta), []).append(job)
            for (explain, tta), group in groups.items():
                batch = np.stack([j.image for j in group])
                try:
                    call = functools.partial(
                        self.classifier.predict_prepared,
                        batch,
                        sources=[j.source for j in group],
                        explain=explain,
                        tta=tta,
                    )
                    preds = await loop.run_in_executor(self._pool, call)
                except Exception as exc:  # one failing batch must not stop the service
                    for job in group:
                        if not job.future.done():
                            job.future.set_exception(exc)
                    continue
                self.calls += 1
                self.images += len(group)
                for job, pred in zip(group, preds, strict=True):
                    if not job.future.done():
                        job.future.set_result(pred)
