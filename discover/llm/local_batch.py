"""Continuous batching for the embedded model: concurrent generation requests decoded together in one llama.cpp
context, one KV sequence per slot.

Why: on a CPU, decoding a token costs about the same whether 1 or 4 sequences take part (the weights are read
once per step), so 4 sequences in one batch gave 2.1-2.4x the aggregate tokens/s of one here. Each request has
its own sampler (seed, temperature), max_tokens, stop strings; a finished or cancelled request frees its slot at
once and the next queued request takes it (continuous batching, as in Orca, Yu et al. OSDI 2022, and llama.cpp's
server). A slot keeps its keys/values after a request: the next request placed there reuses the longest common
prefix (the rest is removed with memory_seq_rm), or copies a longer shared prefix from another slot with
memory_seq_cp (free in a unified KV cache: the cells gain a sequence id). Prompt chunks and the generating slots'
next tokens share a decode step, as in llama.cpp's server.

One worker thread owns the llama context; callers submit requests and wait on futures."""

from __future__ import annotations

import concurrent.futures
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from discover.errors import LLMError
from discover.llm.free_cores import FreeCores

# Prompt tokens per decode step (llama.cpp's default micro-batch): larger steps are not faster on a CPU and would
# stall the generating slots longer.
STEP_TOKENS = 512
# Copy a prefix from another slot only when it saves at least this many tokens over the chosen slot's own reuse.
MIN_COPY_GAIN = 16
# Re-pick the thread count at most this often (from the idle time in between).
THREADS_EVERY_S = 3.0


@dataclass
class Generation:
    text: str
    prompt_tokens: int
    completion_tokens: int
    reused_tokens: int  # prompt tokens taken from the KV cache instead of being processed
    stop_reason: str    # "eog" | "stop" | "length" | "label" | "cancelled"


@dataclass
class Request:
    tokens: list[int]
    max_tokens: int
    make_sampler: Callable[[], Any]
    stops: list[str] = field(default_factory=list)
    done_when: Callable[[str], bool] | None = None  # ends the answer early (a complete label)
    cancelled: threading.Event = field(default_factory=threading.Event)
    future: concurrent.futures.Future = field(default_factory=concurrent.futures.Future)


@dataclass
class _Slot:
    seq: int
    kv: list[int] = field(default_factory=list)  # tokens held at positions 0..len-1 of this sequence
    req: Request | None = None
    pending: list[int] = field(default_factory=list)  # tokens to decode next (prompt rest, or the sampled token)
    sampler: Any = None
    text: str = ""
    n_out: int = 0
    reused: int = 0
    used_at: float = 0.0


def _resolve(fut: concurrent.futures.Future, value: Any = None, error: BaseException | None = None) -> None:
    try:
        if error is not None:
            fut.set_exception(error)
        else:
            fut.set_result(value)
    except concurrent.futures.InvalidStateError:  # the caller cancelled the future itself
        pass


def _is_cancelled(req: Request) -> bool:
    return req.cancelled.is_set() or req.future.cancelled()


def common_prefix_len(a: list[int], b: list[int]) -> int:
    n = min(len(a), len(b))
    for i in range(n):
        if a[i] != b[i]:
            return i
    return n


@dataclass
class Placement:
    slot: int                # the free slot the request goes to
    keep: int                # prompt tokens it starts with in the KV cache
    own: int                 # of which the slot held itself
    copy_from: int | None    # the slot whose first `keep` tokens are copied in first, if any


def place(kvs: list[list[int]], free: list[int], tokens: list[int], used_at: list[float],
          allow_copy: bool = True) -> Placement:
    """Where a prompt goes: the free slot holding the longest prefix of it (ties: the least recently used), and
    a copy of a longer prefix held by any other slot (busy or not) when that saves MIN_COPY_GAIN tokens. At least
    the last two prompt tokens are always decoded: a 1-token batch is computed with other kernels (other float
    rounding) than the prompt was."""
    longest = max(0, len(tokens) - 2)
    own = {i: min(common_prefix_len(kvs[i], tokens), longest) for i in free}
    slot = max(free, key=lambda i: (own[i], -used_at[i]))
    donor = max(range(len(kvs)), key=lambda i: common_prefix_len(kvs[i], tokens))
    shared = min(common_prefix_len(kvs[donor], tokens), longest)
    if allow_copy and donor != slot and shared >= own[slot] + MIN_COPY_GAIN:
        return Placement(slot, shared, own[slot], donor)
    return Placement(slot, own[slot], own[slot], None)


def worth_waiting(kvs: list[list[int]], planned: list[list[int]], tokens: list[int], have: int) -> bool:
    """Whether a slot is still processing a prompt (`planned`: what it holds plus what it has yet to decode) that
    shares at least MIN_COPY_GAIN more tokens with `tokens` than the `have` a slot could start with now: then the
    request waits until they are in the cache and copies them instead of processing them a second time (prompts
    that arrive together, e.g. a run's first ones, share the system message and the task)."""
    longest = max(0, len(tokens) - 2)
    for kv, plan in zip(kvs, planned):
        shared = min(common_prefix_len(plan, tokens), longest)
        if shared > len(kv) and shared >= have + MIN_COPY_GAIN:
            return True
    return False


def supported() -> str | None:
    """None when the installed cyllama has what batching needs, else what is missing."""
    try:
        from cyllama.llama.llama_cpp import LlamaBatch, LlamaContext, LlamaContextParams
    except ImportError as exc:
        return str(exc)
    params = LlamaContextParams()
    for obj, attrs in ((params, ("n_seq_max", "kv_unified")),
                       (LlamaContext, ("memory_seq_rm", "memory_seq_cp", "set_n_threads", "install_cancel_callback")),
                       (LlamaBatch, ("add", "clear"))):
        missing = [a for a in attrs if not hasattr(obj, a)]
        if missing:
            return f"cyllama lacks {', '.join(missing)}"
    return None


class BatchEngine:
    """`slots` sequences decoded together over `llm.model` (a cyllama LLM); n_ctx is shared by all of them."""

    def __init__(self, llm: Any, slots: int, n_ctx: int, name: str = "local") -> None:
        from cyllama.llama.llama_cpp import LlamaBatch, LlamaContext, LlamaContextParams

        self.name = name
        self.vocab = llm.vocab
        self.n_ctx = n_ctx
        params = LlamaContextParams()
        params.n_ctx = n_ctx
        params.n_batch = STEP_TOKENS
        params.n_ubatch = STEP_TOKENS
        params.n_seq_max = slots
        params.kv_unified = True  # one cell pool: a shared prefix is stored once, copied by adding a sequence id
        params.no_perf = True
        self._cores = FreeCores()
        self.threads = self._cores.initial_threads()
        params.n_threads = params.n_threads_batch = self.threads
        self.ctx = LlamaContext(llm.model, params)
        self.ctx.install_cancel_callback()
        self._batch = LlamaBatch(n_tokens=STEP_TOKENS + slots, embd=0, n_seq_max=slots)
        self._threads_at = time.monotonic()
        self.slots = [_Slot(seq=i) for i in range(slots)]
        self._queue: list[Request] = []
        self._cond = threading.Condition()
        self._closing = False
        self._reset_wanted = False
        self.stats = {"prompt_tokens": 0, "reused_tokens": 0, "copied_tokens": 0, "completion_tokens": 0,
                      "steps": 0, "thread_changes": 0, "most_active": 0}
        self._worker = threading.Thread(target=self._run, name=f"{name}-batch", daemon=True)
        self._worker.start()

    # ---- callers' side -------------------------------------------------------------------------------------
    def submit(self, req: Request) -> concurrent.futures.Future:
        return self.submit_many([req])[0]

    def submit_many(self, reqs: list[Request]) -> list[concurrent.futures.Future]:
        """Queue requests together: they are admitted in the same step (a reproducible schedule from a given
        cache state, unlike requests that arrive one by one while others run)."""
        for req in reqs:
            if len(req.tokens) + req.max_tokens > self.n_ctx:
                raise LLMError(f"{self.name}: prompt of {len(req.tokens)} tokens + max_tokens {req.max_tokens} "
                               f"exceeds the context of {self.n_ctx} tokens")
        with self._cond:
            if self._closing or not self._worker.is_alive():
                raise LLMError(f"{self.name}: the model was unloaded")
            self._queue.extend(reqs)
            self._cond.notify_all()
        return [r.future for r in reqs]

    def wake_for_cancel(self) -> None:
        """A request's `cancelled` event was set (or its future cancelled): its slot is freed at the next step.
        A decode in progress is aborted only when it serves nothing but cancelled requests, so other callers'
        work is kept."""
        with self._cond:
            active = [s.req for s in self.slots if s.req is not None]
            if active and all(_is_cancelled(r) for r in active):
                self.ctx.cancel = True
            self._cond.notify_all()

    def reset(self) -> None:
        """Forget every slot's keys/values (after the running requests finish)."""
        with self._cond:
            self._reset_wanted = True
            self._cond.notify_all()
            while self._reset_wanted and self._worker.is_alive():
                self._cond.wait(0.1)

    def close(self) -> None:
        with self._cond:
            self._closing = True
            self.ctx.cancel = True
            self._cond.notify_all()
        self._worker.join(timeout=30)

    def alive(self) -> bool:
        return self._worker.is_alive() and not self._closing

    def busy(self) -> int:
        with self._cond:
            return sum(s.req is not None for s in self.slots) + len(self._queue)

    # ---- worker --------------------------------------------------------------------------------------------
    def _run(self) -> None:
        try:
            while True:
                with self._cond:
                    while not self._work_or_stop():
                        self._cond.wait()
                    if self._closing:
                        break
                    self._drop_cancelled()
                    self.ctx.cancel = False  # set again by wake_for_cancel() if what runs next is all cancelled
                    if self._reset_wanted and not self._active():
                        self._clear_all()
                        self._reset_wanted = False
                        self._cond.notify_all()
                    if not self._reset_wanted:
                        self._admit()
                    work = self._plan_step()
                if work:
                    self._step(work)
        except BaseException as exc:  # never leave a caller waiting on a dead worker
            self._fail_all(LLMError(f"{self.name}: batch worker failed: {exc}"))
            raise
        finally:
            with self._cond:
                self._closing = True  # refuse new requests: nobody would serve them
            self._fail_all(LLMError(f"{self.name}: the model was unloaded"))

    def _work_or_stop(self) -> bool:
        return self._closing or bool(self._queue) or self._active() or self._reset_wanted

    def _active(self) -> list[_Slot]:
        return [s for s in self.slots if s.req is not None]

    def _fail_all(self, error: LLMError) -> None:
        with self._cond:
            for s in self.slots:
                if s.req is not None:
                    _resolve(s.req.future, error=error)
                    s.req = None
            for r in self._queue:
                _resolve(r.future, error=error)
            self._queue.clear()
            self._reset_wanted = False
            self._cond.notify_all()

    def _clear_all(self) -> None:
        self.ctx.kv_cache_clear()
        for s in self.slots:
            s.kv, s.pending = [], []

    def _drop_cancelled(self) -> None:
        for r in [r for r in self._queue if _is_cancelled(r)]:
            self._queue.remove(r)
            _resolve(r.future, error=LLMError(f"{self.name}: cancelled before it started"))
        for s in self._active():
            if _is_cancelled(s.req):
                self._finish(s, "cancelled")

    def _cells_in_use(self) -> int:
        # Conservative: a prefix shared by several slots is counted once per slot.
        return sum(len(s.kv) + len(s.pending) + (s.req.max_tokens - s.n_out if s.req else 0) for s in self.slots)

    def _admit(self) -> None:
        for req in list(self._queue):
            free = [s for s in self.slots if s.req is None]
            if not free:
                return
            kvs = [s.kv for s in self.slots]
            plan = place(kvs, [s.seq for s in free], req.tokens, [s.used_at for s in self.slots])
            if worth_waiting(kvs, [s.kv + s.pending for s in self.slots], req.tokens, plan.keep):
                continue  # its prefix is being processed for another request: copy it when it is in the cache
            slot, keep = self._place(req, free, plan)
            if slot is None:
                return  # not enough KV cells until a running request finishes
            self._queue.remove(req)
            self._start(slot, req, keep)
            self.stats["most_active"] = max(self.stats["most_active"], len(self._active()))

    def _place(self, req: Request, free: list[_Slot], plan: Placement) -> tuple[_Slot | None, int]:
        """Apply `plan`: the free slot to use and how many of its tokens to keep, after copying a longer prefix
        held by another slot into it and evicting idle slots' caches where the cells are needed."""
        slot, keep = self.slots[plan.slot], plan.keep
        if plan.copy_from is not None:
            self.ctx.memory_seq_rm(slot.seq, -1, -1)
            self.ctx.memory_seq_cp(plan.copy_from, slot.seq, 0, plan.keep)
            slot.kv = req.tokens[:plan.keep]
            self.stats["copied_tokens"] += plan.keep - plan.own
        need = len(req.tokens) - keep + req.max_tokens
        idle = sorted((s for s in free if s is not slot and s.kv), key=lambda s: s.used_at)
        while self._cells_in_use() - (len(slot.kv) - keep) + need > self.n_ctx:
            if idle:
                victim = idle.pop(0)
                self.ctx.memory_seq_rm(victim.seq, -1, -1)
                victim.kv = []
            elif keep and not self._active():
                keep = 0  # alone and still too big: start this slot from scratch
                self.ctx.memory_seq_rm(slot.seq, -1, -1)
                slot.kv = []
                need = len(req.tokens) + req.max_tokens
            else:
                return None, 0
        return slot, keep

    def _start(self, slot: _Slot, req: Request, keep: int) -> None:
        if not self.ctx.memory_seq_rm(slot.seq, keep, -1):
            self.ctx.memory_seq_rm(slot.seq, -1, -1)
            keep = 0
        slot.kv = req.tokens[:keep]
        slot.pending = req.tokens[keep:]
        slot.req, slot.text, slot.n_out, slot.reused = req, "", 0, keep
        slot.sampler = req.make_sampler()
        slot.used_at = time.monotonic()
        self.stats["prompt_tokens"] += len(req.tokens)
        self.stats["reused_tokens"] += keep

    def _finish(self, slot: _Slot, reason: str) -> None:
        req = slot.req
        slot.req, slot.pending, slot.sampler = None, [], None
        slot.used_at = time.monotonic()
        self.stats["completion_tokens"] += slot.n_out
        if reason == "cancelled":
            _resolve(req.future, error=LLMError(f"{self.name}: cancelled"))
        else:
            _resolve(req.future, Generation(slot.text, len(req.tokens), slot.n_out, slot.reused, reason))
        self._cond.notify_all()

    def _plan_step(self) -> list[tuple[_Slot, list[int]]]:
        """The tokens of one decode step: every generating slot's next token first, then prompt chunks."""
        active = self._active()
        work = [(s, s.pending[:1]) for s in active if len(s.pending) == 1]
        room = STEP_TOKENS - len(work)
        for s in sorted((s for s in active if len(s.pending) > 1), key=lambda s: s.used_at):
            if room <= 0:
                break
            work.append((s, s.pending[:room]))
            room -= len(work[-1][1])
        return work

    def _retune_threads(self) -> None:
        now = time.monotonic()
        if now - self._threads_at < THREADS_EVERY_S:
            return
        self._threads_at = now
        threads = self._cores.threads()
        if threads != self.threads:
            self.ctx.set_n_threads(threads, threads)
            self.threads = threads
            self.stats["thread_changes"] += 1

    def _step(self, work: list[tuple[_Slot, list[int]]]) -> None:
        self._retune_threads()
        batch = self._batch
        batch.clear()
        outputs: list[tuple[_Slot, int]] = []
        for slot, chunk in work:
            last = len(chunk) == len(slot.pending)  # this chunk ends what the slot had to decode: sample after it
            base = len(slot.kv)
            for i, tok in enumerate(chunk):
                want = last and i == len(chunk) - 1
                if want:
                    outputs.append((slot, batch.n_tokens))
                batch.add(tok, base + i, [slot.seq], want)
        try:
            self.ctx.decode(batch)
        except InterruptedError:  # aborted for cancelled requests: drop what it may have written
            self.ctx.cancel = False
            for slot, _chunk in work:
                self.ctx.memory_seq_rm(slot.seq, len(slot.kv), -1)
            return
        except ValueError as exc:  # no KV cells left (the estimate was wrong): fail these requests
            with self._cond:
                for slot, _chunk in work:
                    self.ctx.memory_seq_rm(slot.seq, len(slot.kv), -1)
                    if slot.req is not None:
                        _resolve(slot.req.future, error=LLMError(f"{self.name}: decode failed: {exc}"))
                        slot.req, slot.pending = None, []
            return
        self.stats["steps"] += 1
        with self._cond:
            for slot, chunk in work:
                slot.kv.extend(chunk)
                slot.pending = slot.pending[len(chunk):]
            for slot, idx in outputs:
                if slot.req is not None:
                    self._sample(slot, idx)

    def _sample(self, slot: _Slot, idx: int) -> None:
        req = slot.req
        if _is_cancelled(req):
            self._finish(slot, "cancelled")
            return
        if req.max_tokens <= 0:
            self._finish(slot, "length")
            return
        token = slot.sampler.sample(self.ctx, idx)
        if self.vocab.is_eog(token):
            self._finish(slot, "eog")
            return
        before = len(slot.text)
        try:
            slot.text += self.vocab.token_to_piece(token, special=True)
        except UnicodeDecodeError:  # a piece that is part of a multi-byte character: cyllama drops it too
            pass
        slot.n_out += 1
        if req.stops:
            start = max(0, before - max(len(s) for s in req.stops))
            cuts = [p for p in (slot.text.find(s, start) for s in req.stops) if p >= 0]
            if cuts:
                slot.text = slot.text[:min(cuts)]
                self._finish(slot, "stop")
                return
        if req.done_when is not None and req.done_when(slot.text):
            self._finish(slot, "label")
            return
        if slot.n_out >= req.max_tokens:
            self._finish(slot, "length")
            return
        slot.pending = [token]
