"""Worker processes that prepare requests off the gateway's event loop, each job bounded in time.

A process, not a thread: Harmony's tokenizer holds the GIL for the whole call, so a thread would
stall the loop just the same. Jobs are picklable calls `fn(*args)` sent to `render_worker` over
its stdin and answered on its stdout as length-prefixed pickles. A job past its time limit gets
its worker killed and replaced; a caller that goes away leaves the job to finish (or time out)
before the worker takes another.
"""

import asyncio
import logging
import pickle
import struct
import sys

from cluster.errors import InternalError, InvalidRequest

log = logging.getLogger(__name__)

FRAME = struct.Struct(">I")
START_TIMEOUT_S = 60.0
RESPAWN_BACKOFF_S = 1.0


class RenderWorker:
    """One worker process; one job at a time."""

    def __init__(self, process: asyncio.subprocess.Process):
        self.process = process

    @classmethod
    async def spawn(cls) -> "RenderWorker":
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "cluster.gateway.render_worker",
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE)
        worker = cls(process)
        try:
            async with asyncio.timeout(START_TIMEOUT_S):
                await worker._receive()  # it says "ready" once its tokenizer is loaded
        except BaseException:
            worker.kill()
            raise
        return worker

    async def call(self, fn, args: tuple):
        """Sends one job; returns ("ok", value), ("error", ClusterError) or ("bug", description)."""
        data = pickle.dumps((fn, args), protocol=pickle.HIGHEST_PROTOCOL)
        self.process.stdin.write(FRAME.pack(len(data)) + data)
        await self.process.stdin.drain()
        return await self._receive()

    async def _receive(self):
        header = await self.process.stdout.readexactly(FRAME.size)
        return pickle.loads(await self.process.stdout.readexactly(FRAME.unpack(header)[0]))

    def kill(self) -> None:
        if self.process.returncode is None:
            self.process.kill()


class RenderPool:
    def __init__(self, workers: int, job_timeout_s: float):
        self._size = workers
        self._job_timeout_s = job_timeout_s
        self._idle: asyncio.Queue[RenderWorker] = asyncio.Queue()
        self._all: set[RenderWorker] = set()
        self._tasks: set[asyncio.Task] = set()
        self._stopped = False

    async def start(self) -> None:
        for worker in await asyncio.gather(*(RenderWorker.spawn() for _ in range(self._size))):
            self._add(worker)

    async def run(self, fn, *args):
        """`fn(*args)` in a worker. Raises what `fn` raised if it is a ClusterError; InvalidRequest
        past the job timeout; InternalError if the worker failed otherwise. Waiting for a free
        worker is bounded by the caller's own deadline."""
        worker = await self._idle.get()
        job = asyncio.ensure_future(self._job(worker, fn, args))
        self._keep(job)
        outcome, value = await asyncio.shield(job)  # a cancelled caller leaves the job to end on its own
        if outcome == "ok":
            return value
        if outcome == "error":
            raise value
        raise InternalError(value)

    async def _job(self, worker: RenderWorker, fn, args: tuple):
        try:
            async with asyncio.timeout(self._job_timeout_s):
                outcome, value = await worker.call(fn, args)
        except TimeoutError:
            log.warning("render job %s passed %.1f s; its worker is replaced", fn.__name__, self._job_timeout_s)
            self._replace(worker)
            return "error", InvalidRequest(
                f"the prompt took longer than {self._job_timeout_s:.0f} s to tokenize; shorten it")
        except (asyncio.IncompleteReadError, ConnectionError, pickle.UnpicklingError) as exc:
            log.error("render worker %d failed: %s; it is replaced", worker.process.pid, type(exc).__name__)
            self._replace(worker)
            return "bug", "the prompt renderer failed; retry the request"
        if outcome == "bug":
            log.error("render job %s failed in its worker: %s", fn.__name__, value)
            value = "the prompt renderer failed on this request; report the request id"
        self._idle.put_nowait(worker)
        return outcome, value

    def _add(self, worker: RenderWorker) -> None:
        self._all.add(worker)
        self._idle.put_nowait(worker)

    def _replace(self, worker: RenderWorker) -> None:
        worker.kill()
        self._all.discard(worker)
        if not self._stopped:
            self._keep(asyncio.ensure_future(self._respawn()))

    async def _respawn(self) -> None:
        while not self._stopped:
            try:
                worker = await RenderWorker.spawn()
            except Exception as exc:
                log.error("cannot start a render worker: %s; trying again", exc)
                await asyncio.sleep(RESPAWN_BACKOFF_S)
                continue
            if self._stopped:
                worker.kill()
            else:
                self._add(worker)
            return

    def _keep(self, task: asyncio.Task) -> None:
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def stop(self) -> None:
        self._stopped = True
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for worker in self._all:
            worker.kill()
            await worker.process.wait()
        self._all.clear()
