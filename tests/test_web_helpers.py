"""Helpers for the web view tests (no tests here): a real store written through the Store API as a run writes it
(candidates, evaluations with per-instance scores, feedback, the LLM calls behind candidates), on the `linear`
fixture problem (minimize abs error, baseline "zero", optimum 0), and a prompt run (plain-text candidates)."""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

from discover.store import Store
from discover.store.call_log import StoreCallLog
from tests.loop_helpers import LINEAR

XSS = "<script>alert(1)</script><img src=x onerror=alert(2)>"


@dataclass
class WebRun:
    runs_dir: Path
    run_id: str
    prompt_run: str
    seed: str
    child: str          # e1 of the seed, better (the run's best)
    broken: str         # m1 of child: error with a traceback
    cross: str          # e2 of child and seed: valid, worse than child; its thought is an XSS attempt


def result(status: str, score: float | None, instances: dict | None = None, error: str | None = None,
           traceback: str | None = None) -> SimpleNamespace:
    return SimpleNamespace(status=status, score=score, instances=instances or {}, error=error, traceback=traceback,
                           stdout_tail=None, stderr_tail=None, duration_s=0.25)


def code(body: str) -> str:
    return f"def solve(x):\n    {body}\n"


def add(store: Store, run_id: str, *, gen: int, slot: int, op: str, parents: list[str], body: str, thought: str,
        train: float | None, status: str = "evaluated", valid: bool = True, key: str | None = None,
        error: str | None = None, meta: dict | None = None) -> str:
    text = body if body.startswith(("def", "Answer", "Say")) else code(body)
    cid = store.add_candidate(run_id=run_id, generation=gen, slot=slot, operator=op, parent_ids=parents, thought=thought,
                              code=text, code_hash=hashlib.sha256(text.encode()).hexdigest(), llm_call_key=key,
                              status="pending", meta=meta)
    if status != "pending":
        store.finish_candidate(cid, status=status, train_score=train, valid=valid, reject_reason=None)
    if train is not None or error:
        instances = {} if error else {f"x={i}": {"score": train, "y": 3 * i + 1} for i in range(3)}
        store.add_evaluation(cid, "train", "train", result("ok" if not error else "error", train, instances, error,
                                                          "Traceback (most recent call last):\n  ...\nNameError: np" if error else None))
    time.sleep(0.002)  # distinct created_at: "earlier" is well defined
    return cid


def llm_call(store: Store, run_id: str, key: str, prompt: str, response: str, cost: float = 0.01) -> None:
    StoreCallLog(store, run_id).record(SimpleNamespace(
        key=key, model="fake/web", role="propose", messages=[{"role": "system", "content": "You write heuristics."},
                                                            {"role": "user", "content": prompt}],
        params={"temperature": 1.0}, sample_index=0, response=response, prompt_tokens=120, completion_tokens=40,
        cost_usd=cost, latency_s=1.5, cached=False, error=None, created_at=time.time()))


def build(root: Path) -> WebRun:
    store = Store(root / "runs")
    rid = store.create_run(problem="linear", problem_dir=LINEAR, kind="code", strategy="eoh", model="fake/web",
                           sandbox="process", config={"problem": LINEAR, "generations": 2}, run_id="20261201-web-0001")
    seed = add(store, rid, gen=0, slot=0, op="seed", parents=[], body="return 2 * x", thought="", train=2.0)
    llm_call(store, rid, "k1", "Improve solve for the linear problem.", "Thought: shift it\n```python\n" + code("return 3 * x") + "```")
    child = add(store, rid, gen=1, slot=0, op="e1", parents=[seed], body="return 3 * x", thought="shift it", train=1.0,
                key="k1", meta={"island": 0})
    store.add_feedback(rid, child, "improved on train vs parent: 2 -> 1; keep the slope")
    store.add_evaluation(child, "test", "test_small", result("ok", 1.0, {"a": {"score": 1.0}}))
    store.add_evaluation(child, "test", "test_big", result("ok", 1.0, {"b": {"score": 1.0}}))
    llm_call(store, rid, "k2", "Mutate.", "```python\n" + code("return np.floor(x)") + "```")
    broken = add(store, rid, gen=2, slot=0, op="m1", parents=[child], body="return np.floor(x)", thought="floor it",
                 train=None, valid=False, key="k2", error="NameError: name 'np' is not defined")
    llm_call(store, rid, "k3", "Cross these two.", "Thought: " + XSS)
    cross = add(store, rid, gen=2, slot=1, op="e2", parents=[child, seed], body="return 2.5 * x", thought=XSS, train=1.5,
                key="k3")
    store.set_run_status(rid, "finished", "generations done")

    prid = store.create_run(problem="prompt:opp", problem_dir="opp.jsonl", kind="prompt", strategy="opro",
                            model="fake/opt", sandbox=None, config={"task": "opp.jsonl"}, run_id="20261201-web-0002")
    start = add(store, prid, gen=0, slot=0, op="start", parents=[], body="Answer the question.", thought="", train=0.25)
    add(store, prid, gen=1, slot=0, op="opro", parents=[start], body="Say the opposite word.", thought="be direct",
        train=0.75)
    store.set_run_status(prid, "finished", "steps done")
    store.close()
    return WebRun(runs_dir=root / "runs", run_id=rid, prompt_run=prid, seed=seed, child=child, broken=broken, cross=cross)


def add_live_candidate(runs_dir: Path, run_id: str, parent: str, train: float) -> str:
    """What the loop does when a new candidate lands: from another connection, while the page is open."""
    store = Store(runs_dir, create=False)
    try:
        return add(store, run_id, gen=3, slot=int(train * 1000) % 997, op="m2", parents=[parent],
                   body=f"return 3 * x + {train}", thought="live one", train=train)
    finally:
        store.close()


def as_json(obj) -> dict:
    return json.loads(json.dumps(obj, default=str))


# -- a small DevTools-protocol client for Debian's chromium (aiohttp's websocket client; no browser download) --------
import asyncio
import base64
import os
import re
import shutil
import signal
import subprocess

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--disable-dev-shm-usage", "--hide-scrollbars", "--remote-debugging-port=0"]


def chromium_path() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if path := shutil.which(name):
            return path
    return None


class Browser:
    """One headless chromium and one page, driven over the DevTools protocol. Collects console errors, uncaught
    exceptions and browser log errors (CSP violations, failed loads) while it runs."""

    def __init__(self, profile: Path, width: int = 1400, height: int = 1000) -> None:
        self.profile, self.width, self.height = profile, width, height
        self.errors: list[str] = []
        self._id = 0
        self._waiting: dict[int, asyncio.Future] = {}
        self._events: list[tuple[str, dict]] = []

    async def __aenter__(self) -> "Browser":
        import aiohttp

        self.proc = subprocess.Popen([chromium_path(), *CHROMIUM_FLAGS, f"--user-data-dir={self.profile}", "about:blank"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True)
        url = await asyncio.wait_for(asyncio.get_running_loop().run_in_executor(None, self._ws_url), 60)
        self.http = aiohttp.ClientSession()
        self.ws = await self.http.ws_connect(url, max_msg_size=0)
        self._reader = asyncio.create_task(self._read())
        target = await self.send("Target.createTarget", url="about:blank")
        self.session = (await self.send("Target.attachToTarget", targetId=target["targetId"], flatten=True))["sessionId"]
        for domain in ("Runtime.enable", "Log.enable", "Page.enable"):
            await self.page(domain)
        await self.page("Emulation.setDeviceMetricsOverride", width=self.width, height=self.height, deviceScaleFactor=1,
                        mobile=False)
        return self

    def _ws_url(self) -> str:
        for line in self.proc.stderr:  # type: ignore[union-attr]
            m = re.search(r"DevTools listening on (ws://\S+)", line)
            if m:
                return m.group(1)
        raise RuntimeError("chromium exited before it listened for DevTools")

    async def __aexit__(self, *exc) -> None:
        self._reader.cancel()
        await self.ws.close()
        await self.http.close()
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()

    async def _read(self) -> None:
        async for msg in self.ws:
            data = json.loads(msg.data)
            if "id" in data and data["id"] in self._waiting:
                self._waiting.pop(data["id"]).set_result(data)
                continue
            method, params = data.get("method", ""), data.get("params", {})
            self._events.append((method, params))
            if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
                self.errors.append("console: " + " ".join(str(a.get("value", a.get("description", ""))) for a in params["args"]))
            elif method == "Runtime.exceptionThrown":
                d = params["exceptionDetails"]
                self.errors.append("exception: " + (d.get("exception", {}).get("description") or d.get("text", "")))
            elif method == "Log.entryAdded" and params["entry"]["level"] == "error":
                self.errors.append("log: " + params["entry"]["text"])

    async def send(self, method: str, session: str | None = None, **params) -> dict:
        self._id += 1
        fut = asyncio.get_running_loop().create_future()
        self._waiting[self._id] = fut
        msg = {"id": self._id, "method": method, "params": params, **({"sessionId": session} if session else {})}
        await self.ws.send_str(json.dumps(msg))
        reply = await asyncio.wait_for(fut, 30)
        if "error" in reply:
            raise RuntimeError(f"{method}: {reply['error']}")
        return reply.get("result", {})

    async def page(self, method: str, **params) -> dict:
        return await self.send(method, self.session, **params)

    async def goto(self, url: str) -> None:
        self._events.clear()
        await self.page("Page.navigate", url=url)
        await self.wait_for_event("Page.loadEventFired")

    async def wait_for_event(self, method: str, timeout: float = 30) -> dict:
        deadline = time.time() + timeout
        while time.time() < deadline:
            for m, p in self._events:
                if m == method:
                    return p
            await asyncio.sleep(0.05)
        raise TimeoutError(f"no {method} within {timeout} s")

    async def js(self, expression: str):
        r = await self.page("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in r:
            raise RuntimeError(f"{expression[:60]}: {r['exceptionDetails'].get('text')}")
        return r["result"].get("value")

    async def wait_for(self, expression: str, timeout: float = 20):
        deadline = time.time() + timeout
        while time.time() < deadline:
            value = await self.js(expression)
            if value:
                return value
            await asyncio.sleep(0.1)
        raise TimeoutError(f"not true within {timeout} s: {expression}")

    async def screenshot(self, path: Path, full_page: bool = True) -> Path:
        params = {"format": "png"}
        if full_page:
            h = await self.js("Math.ceil(document.documentElement.scrollHeight)")
            await self.page("Emulation.setDeviceMetricsOverride", width=self.width, height=int(min(h, 6000)),
                            deviceScaleFactor=1, mobile=False)
        data = await self.page("Page.captureScreenshot", **params)
        path.write_bytes(base64.b64decode(data["data"]))
        if full_page:
            await self.page("Emulation.setDeviceMetricsOverride", width=self.width, height=self.height,
                            deviceScaleFactor=1, mobile=False)
        return path
