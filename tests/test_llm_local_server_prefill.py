"""The small model behind an OpenAI-compatible server (vLLM, llama.cpp server, Ollama): a prefilled answer is
continued only when the request asks the server to (continue_final_message). Tested against a loopback stub that
renders the ChatML template as such a server does and "generates" what a small model does in each case."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from discover.llm import Gateway, MemoryCallLog

PREFIX = "```python\ndef add(a, b):\n"
BODY = "    return a + b\n"
NEW_ANSWER = "Sure! Here is the function:\n```python\ndef add(a, b):\n    return a + b\n```"


def render_chatml(messages, add_generation_prompt, continue_final_message):
    """A chat template applied the way vLLM does: every turn closed, unless the last one is continued."""
    out = []
    for i, m in enumerate(messages):
        last = i == len(messages) - 1
        out.append(f"<|im_start|>{m['role']}\n{m['content']}")
        if not (last and continue_final_message):
            out.append("<|im_end|>\n")
    if add_generation_prompt:
        out.append("<|im_start|>assistant\n")
    return "".join(out)


class _Server(BaseHTTPRequestHandler):
    bodies: list = []

    def log_message(self, *args):
        pass

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers.get("content-length", 0))) or b"{}")
        type(self).bodies.append(body)
        cont = bool(body.get("continue_final_message"))
        if cont and body.get("add_generation_prompt", True):
            self._send(400, {"error": {"message": "continue_final_message needs add_generation_prompt false"}})
            return
        prompt = render_chatml(body["messages"], body.get("add_generation_prompt", True), cont)
        # The "model": after an open prefilled turn it writes the body; after a closed one it starts anew.
        text = BODY if prompt.endswith(PREFIX) else NEW_ANSWER
        self._send(200, {"id": "c1", "object": "chat.completion", "created": 0, "model": body["model"],
                         "choices": [{"index": 0, "finish_reason": "stop",
                                      "message": {"role": "assistant", "content": text}}],
                         "usage": {"prompt_tokens": len(prompt.split()), "completion_tokens": len(text.split()),
                                   "total_tokens": len(prompt.split()) + len(text.split())}})

    def _send(self, code, payload):
        data = json.dumps(payload).encode()
        self.send_response(code)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture()
def server():
    _Server.bodies = []
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Server)
    srv.daemon_threads = True
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{srv.server_address[1]}/v1"
    srv.shutdown()


PREFILLED = [{"role": "user", "content": "Write add(a, b)."}, {"role": "assistant", "content": PREFIX}]


def test_a_prefilled_answer_is_continued_when_the_server_is_asked_to(server):
    g = Gateway(call_log=MemoryCallLog(), api_base=server, continue_prefill=True, max_retries=0)
    resp = g.complete_sync(model="openai/qwen2.5-coder-0.5b", messages=PREFILLED, max_tokens=32)
    assert resp.text == BODY
    sent = _Server.bodies[-1]
    assert sent["continue_final_message"] is True and sent["add_generation_prompt"] is False
    assert sent["messages"][-1] == {"role": "assistant", "content": PREFIX}


def test_without_the_flag_the_server_closes_the_turn_and_the_model_starts_over(server):
    g = Gateway(call_log=MemoryCallLog(), api_base=server, max_retries=0)
    resp = g.complete_sync(model="openai/qwen2.5-coder-0.5b", messages=PREFILLED, max_tokens=32)
    assert resp.text == NEW_ANSWER
    assert "continue_final_message" not in _Server.bodies[-1]


def test_only_prefilled_prompts_carry_the_flag_and_it_is_part_of_the_cache_key(server):
    log = MemoryCallLog()
    plain = [{"role": "user", "content": "Say OK."}]
    Gateway(call_log=log, api_base=server, continue_prefill=True, max_retries=0).complete_sync(
        model="openai/qwen2.5-coder-0.5b", messages=plain, max_tokens=4)
    assert "continue_final_message" not in _Server.bodies[-1]
    # A chat-style answer bought without the flag is not replayed for a continued request.
    closed = Gateway(call_log=log, api_base=server, max_retries=0).complete_sync(
        model="openai/qwen2.5-coder-0.5b", messages=PREFILLED, max_tokens=32)
    continued = Gateway(call_log=log, api_base=server, continue_prefill=True, max_retries=0).complete_sync(
        model="openai/qwen2.5-coder-0.5b", messages=PREFILLED, max_tokens=32)
    assert (closed.text, continued.text, continued.cached) == (NEW_ANSWER, BODY, False)
