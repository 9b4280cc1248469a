"""A deployed model behind an HTTP endpoint, as a :class:`~mia_audit.adapters.ModelAdapter`.

Protocol (JSON over HTTP POST, standard library only)::

    request   {"instances": [[x11, x12, ...], [x21, ...], ...]}      one row per record
    response  {"predictions": [[p0, p1, ...], ...]}                  returns="probs" / "logits"
              {"predictions": [3, 0, ...]}                           returns="labels"

Connection errors, timeouts, HTTP 5xx and 429 are retried with exponential backoff
(``backoff * 2 ** (attempt - 1)`` seconds); other 4xx are not. ``rate_limit`` (requests
per second) spaces request starts at least ``1 / rate_limit`` seconds apart, measured with
``time.monotonic``. Every failure is an :class:`~mia_audit.errors.InputError` naming the URL.

Deadlines, not idle timeouts: ``timeout`` bounds one whole request (connecting, sending,
the status line, the headers and the body together), not each socket read, so a server
that drips a byte at a time is abandoned when the time is up (the connection is closed).
Each read on the socket is given only the time left (:class:`_DeadlineSocket`).
``total_timeout`` bounds one batch, all its attempts and backoff waits together: no attempt
starts, and no wait begins, that it would not leave time for, and the last attempt gets
only the time left. Without it (None) the per-request deadlines already bound a batch by
``(retries + 1) * timeout`` plus the backoff (and rate-limit) waits.
"""

from __future__ import annotations

import functools
import http.client
import io
import json
import math
import socket
import time
import urllib.error
import urllib.request
from typing import Any, Optional

import numpy as np

from .adapters import ModelAdapter
from .adapters.base import _check_batch_size, _check_n_classes
from .errors import InputError, bad_value
from .frameworks import to_numpy
from .outputs import KINDS

DEFAULT_HTTP_BATCH = 256
RETRY_STATUS = frozenset({429, 500, 502, 503, 504}) | frozenset(range(505, 600))


def _check_number(param: str, value: Any, *, low: float, allow_zero: bool, allow_none: bool = False) -> Optional[float]:
    if value is None and allow_none:
        return None
    ok = not isinstance(value, bool) and isinstance(value, (int, float, np.integer, np.floating))
    if ok:
        v = float(value)
        ok = math.isfinite(v) and (v >= low if allow_zero else v > low)
    if not ok:
        allowed = f"a finite number {'>=' if allow_zero else '>'} {low:g}" + (" or None" if allow_none else "")
        raise bad_value(param, allowed, value)
    return float(value)


class _Deadline:
    """A point in ``time.monotonic`` time; :meth:`left` raises ``socket.timeout`` once it has passed."""

    def __init__(self, seconds: float):
        self.end = time.monotonic() + seconds

    def left(self) -> float:
        remaining = self.end - time.monotonic()
        if remaining <= 0:
            raise socket.timeout("the request's deadline has passed")
        return remaining


class _DeadlineReader(io.RawIOBase):
    """The raw file ``http.client`` reads a response from, every read bounded by the deadline."""

    def __init__(self, owner: "_DeadlineSocket"):
        super().__init__()
        self._owner = owner

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        return self._owner.recv_into(buffer)

    def close(self) -> None:
        if not self.closed:
            super().close()
            self._owner._reader_closed()


class _DeadlineSocket:
    """A connected socket as ``http.client`` uses it (``sendall``, ``makefile``, ``close``),
    where every send and receive gets only the time left before one deadline. Like a real
    socket, closing it while a response file is open closes it when that file closes."""

    def __init__(self, sock: socket.socket, deadline: _Deadline):
        self._sock, self._deadline = sock, deadline
        self._readers, self._closing = 0, False

    def sendall(self, data, *args):
        self._sock.settimeout(self._deadline.left())
        return self._sock.sendall(data, *args)

    def recv_into(self, buffer, *args):
        self._sock.settimeout(self._deadline.left())
        return self._sock.recv_into(buffer, *args)

    def makefile(self, mode: str = "rb", *args, **kwargs):
        if mode != "rb":  # pragma: no cover - http.client only reads through a file
            raise ValueError(f"a deadline socket's file is read-only; got mode {mode!r}")
        self._readers += 1
        return io.BufferedReader(_DeadlineReader(self))

    def _reader_closed(self) -> None:
        self._readers -= 1
        if self._closing and self._readers == 0:
            self._sock.close()

    def close(self) -> None:
        self._closing = True
        if self._readers == 0:
            self._sock.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


class _DeadlineHTTPConnection(http.client.HTTPConnection):
    def __init__(self, *args, deadline: _Deadline, **kwargs):
        super().__init__(*args, **kwargs)
        self._deadline = deadline

    def connect(self) -> None:
        super().connect()
        self.sock = _DeadlineSocket(self.sock, self._deadline)


class _DeadlineHTTPSConnection(http.client.HTTPSConnection):
    def __init__(self, *args, deadline: _Deadline, **kwargs):
        super().__init__(*args, **kwargs)
        self._deadline = deadline

    def connect(self) -> None:
        super().connect()  # TCP (and a proxy tunnel), then TLS, each step under the time left
        self.sock = _DeadlineSocket(self.sock, self._deadline)


class _DeadlineHTTPHandler(urllib.request.HTTPHandler):
    def __init__(self, deadline: _Deadline):
        super().__init__()
        self._deadline = deadline

    def http_open(self, req):
        return self.do_open(functools.partial(_DeadlineHTTPConnection, deadline=self._deadline), req)


class _DeadlineHTTPSHandler(urllib.request.HTTPSHandler):
    def __init__(self, deadline: _Deadline):
        super().__init__()
        self._deadline = deadline

    def https_open(self, req):
        return self.do_open(functools.partial(_DeadlineHTTPSConnection, deadline=self._deadline), req,
                            context=self._context)


def _open_with_deadline(request: urllib.request.Request, seconds: float) -> bytes:
    """The body of ``request``'s response, all of it within ``seconds`` (proxies from the
    environment apply as with ``urlopen``); ``socket.timeout`` when the time is up."""
    deadline = _Deadline(seconds)
    opener = urllib.request.build_opener(_DeadlineHTTPHandler(deadline), _DeadlineHTTPSHandler(deadline))
    with opener.open(request, timeout=deadline.left()) as response:
        return response.read()


class HttpEndpointAdapter(ModelAdapter):
    """POST batches of records to ``url`` and read back per-record outputs (see the module docstring).

    url          http:// or https:// address of the prediction endpoint
    n_classes    number of classes of the deployed model
    returns      what the endpoint releases: "probs", "logits" or "labels"
    batch_size   records per request
    timeout      seconds per request: a deadline for all of it (connect, send, read)
    retries      extra attempts after a retryable failure (0: none)
    backoff      first wait between attempts, doubled after each
    total_timeout  seconds for one batch, every attempt and wait included (None: no bound
                 beyond (retries + 1) * timeout plus the backoff waits)
    rate_limit   at most this many requests per second (None: no limit)
    headers      extra HTTP headers, e.g. {"Authorization": "Bearer ..."}

    ``requests_sent`` counts HTTP requests made (retries included).
    """

    framework = "http"

    def __init__(
        self,
        url: str,
        *,
        n_classes: int,
        returns: str = "probs",
        batch_size: int = DEFAULT_HTTP_BATCH,
        timeout: float = 10.0,
        retries: int = 3,
        backoff: float = 0.5,
        total_timeout: Optional[float] = None,
        rate_limit: Optional[float] = None,
        headers: Optional[dict[str, str]] = None,
    ):
        if not isinstance(url, str) or not url.lower().startswith(("http://", "https://")):
            raise bad_value("url", "an http:// or https:// address", url)
        if returns not in KINDS:
            raise bad_value("returns", f"one of {', '.join(KINDS)}", returns)
        if isinstance(retries, bool) or not isinstance(retries, (int, np.integer)) or retries < 0:
            raise bad_value("retries", "an integer >= 0", retries)
        if headers is not None and (not isinstance(headers, dict) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in headers.items())):
            raise bad_value("headers", "a table of header names to text values", headers)
        self.url = url
        self.n_classes = _check_n_classes(n_classes)
        self.output_kind = returns
        self.batch_size = _check_batch_size(batch_size, allow_none=False)
        self.timeout = _check_number("timeout", timeout, low=0, allow_zero=False)
        self.retries = int(retries)
        self.backoff = _check_number("backoff", backoff, low=0, allow_zero=True)
        self.total_timeout = _check_number("total_timeout", total_timeout, low=0, allow_zero=False, allow_none=True)
        self.rate_limit = _check_number("rate_limit", rate_limit, low=0, allow_zero=False, allow_none=True)
        self.headers = dict(headers or {})
        self.requests_sent = 0
        self._last_request: Optional[float] = None

    # ------------------------------------------------------------------ transport

    def _wait_for_rate_limit(self) -> None:
        if self.rate_limit is None:
            return
        if self._last_request is not None:
            wait = self._last_request + 1.0 / self.rate_limit - time.monotonic()
            while wait > 0:
                time.sleep(wait)
                wait = self._last_request + 1.0 / self.rate_limit - time.monotonic()
        self._last_request = time.monotonic()

    def _post(self, body: bytes) -> bytes:
        """The response body of one POST, after retries; an InputError once they are spent
        (or once ``total_timeout`` is)."""
        attempts = self.retries + 1
        end = math.inf if self.total_timeout is None else time.monotonic() + self.total_timeout
        spent = f"total_timeout of {self.total_timeout:g} s spent" if self.total_timeout is not None else ""
        detail = spent
        for attempt in range(1, attempts + 1):
            self._wait_for_rate_limit()
            left = end - time.monotonic()
            if left <= 0:
                last = f"; last failure: {detail}" if attempt > 1 else " before the first attempt"
                return self._give_up(attempt - 1, spent + last)
            limit = min(self.timeout, left)
            request = urllib.request.Request(
                self.url, data=body, method="POST",
                headers={"Content-Type": "application/json", "Accept": "application/json", **self.headers},
            )
            self.requests_sent += 1
            timed_out = (f"timed out after {self.timeout:g} s" if limit == self.timeout
                         else f"timed out after {limit:.3g} s (what was left of total_timeout)")
            try:
                return _open_with_deadline(request, limit)
            except urllib.error.HTTPError as exc:
                detail = f"HTTP {exc.code} {exc.reason}"
                try:
                    text = " ".join(exc.read(300).decode("utf-8", "replace").split())
                except Exception:  # pragma: no cover - the body is a courtesy
                    text = ""
                if text:
                    detail += f": {text[:200]}"
                if exc.code not in RETRY_STATUS:
                    raise InputError(
                        f"endpoint {self.url} refused the request with {detail} "
                        f"(attempt {attempt} of {attempts}; a {exc.code} is not retried)"
                    ) from None
            except (socket.timeout, TimeoutError):
                detail = timed_out
            except urllib.error.URLError as exc:
                reason = exc.reason
                detail = (timed_out if isinstance(reason, (socket.timeout, TimeoutError))
                          else f"connection failed: {reason}")
            except (http.client.HTTPException, ConnectionError, OSError) as exc:
                detail = f"connection failed: {type(exc).__name__}: {exc}"
            if attempt < attempts:
                wait = self.backoff * 2 ** (attempt - 1)
                if time.monotonic() + wait >= end:
                    return self._give_up(attempt, f"{spent}; last failure: {detail}")
                time.sleep(wait)
        return self._give_up(attempts, detail)

    def _give_up(self, attempts: int, detail: str) -> bytes:
        raise InputError(f"endpoint {self.url} failed after {attempts} attempt{'s' if attempts != 1 else ''}: {detail}")

    # ------------------------------------------------------------------ adapter

    def _predict_batch(self, X: Any) -> np.ndarray:
        rows = np.asarray(to_numpy(X))  # without loss of precision (bfloat16 becomes float32)
        n = rows.shape[0]
        body = json.dumps({"instances": rows.tolist()}, allow_nan=False).encode("utf-8")
        raw = self._post(body)
        try:
            payload = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise InputError(f"endpoint {self.url} returned malformed JSON ({exc.__class__.__name__}: {exc})") from None
        if not isinstance(payload, dict) or "predictions" not in payload:
            got = sorted(payload)[:5] if isinstance(payload, dict) else type(payload).__name__
            raise InputError(f'endpoint {self.url} must return a JSON object with "predictions"; got {got}')
        preds = payload["predictions"]
        if not isinstance(preds, list) or len(preds) != n:
            got = f"{len(preds)} rows" if isinstance(preds, list) else type(preds).__name__
            raise InputError(f"endpoint {self.url} returned {got} of predictions for a batch of {n} records")
        try:
            values = np.asarray(preds, dtype=np.float64)
        except (TypeError, ValueError):
            raise InputError(f"endpoint {self.url} returned predictions that are not a table of numbers") from None
        if self.output_kind == "labels":
            if values.ndim != 1 or not np.all(np.isfinite(values)) or np.any(values != np.round(values)):
                raise InputError(f"endpoint {self.url} (returns='labels') must return one integer label per record")
            return values.astype(np.int64)
        if values.shape != (n, self.n_classes):
            raise InputError(
                f"endpoint {self.url} (returns={self.output_kind!r}) returned predictions of shape {values.shape}; "
                f"expected ({n}, {self.n_classes}): one row of {self.n_classes} numbers per record"
            )
        return values

    def unwrap(self) -> Any:
        return self.url

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "url": self.url}


__all__ = ["HttpEndpointAdapter", "DEFAULT_HTTP_BATCH"]
