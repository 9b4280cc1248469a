"""HttpEndpointAdapter against small real HTTP servers on 127.0.0.1."""

from __future__ import annotations

import contextlib
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest

from mia_audit.adapters import SklearnAdapter
from mia_audit.errors import InputError
from mia_audit.http_adapter import HttpEndpointAdapter


class Endpoint:
    """A test server: ``respond(instances, n_request) -> (status, body bytes)``; logs requests."""

    def __init__(self, respond, delay: float = 0.0):
        self.respond = respond
        self.delay = delay
        self.requests: list[list] = []
        self.times: list[float] = []
        self.lock = threading.Lock()


@contextlib.contextmanager
def serve(endpoint: Endpoint):
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802
            length = int(self.headers.get("Content-Length", 0))
            payload = json.loads(self.rfile.read(length))
            with endpoint.lock:
                endpoint.times.append(time.monotonic())
                endpoint.requests.append(payload["instances"])
                n = len(endpoint.requests)
            if endpoint.delay:
                time.sleep(endpoint.delay)
            status, body = endpoint.respond(payload["instances"], n)
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout test)
                pass

        def log_message(self, *args):  # keep test output quiet
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/predict"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.fixture(scope="module")
def fitted():
    from sklearn.linear_model import LogisticRegression

    from mia_audit.data import load_dataset

    data = load_dataset("adult")
    X, y = data.X[:400], data.y[:400]
    model = LogisticRegression(max_iter=300).fit(X[:300], y[:300])
    return model, X


def _ok(model, kind="probs"):
    def respond(instances, n):
        rows = np.asarray(instances, dtype=np.float32)
        preds = model.predict_proba(rows).tolist() if kind == "probs" else model.predict(rows).tolist()
        return 200, json.dumps({"predictions": preds}).encode()

    return respond


def test_outputs_equal_the_model_and_batches(fitted):
    model, X = fitted
    endpoint = Endpoint(_ok(model))
    with serve(endpoint) as url:
        adapter = HttpEndpointAdapter(url, n_classes=2, batch_size=64)
        out = adapter.predict(X[:150])
    assert out.kind == "probs"
    # bitwise against the model run on the same batches as the endpoint (64, 64, 22): one
    # predict_proba over all 150 rows is a different BLAS call and may round differently
    np.testing.assert_array_equal(out.values, SklearnAdapter(model, batch_size=64).predict(X[:150]).values)
    assert [len(r) for r in endpoint.requests] == [64, 64, 22]
    assert adapter.requests_sent == 3
    # features arrive exactly as given (float32 values survive JSON)
    np.testing.assert_array_equal(np.asarray(endpoint.requests[0], dtype=np.float32), X[:64])


def test_labels_only_endpoint(fitted):
    model, X = fitted
    with serve(Endpoint(_ok(model, "labels"))) as url:
        out = HttpEndpointAdapter(url, n_classes=2, returns="labels").predict(X[:50])
    assert out.kind == "labels"
    np.testing.assert_array_equal(out.values, model.predict(X[:50]))


def test_retries_503_then_succeeds(fitted):
    model, X = fitted
    good = _ok(model)

    def flaky(instances, n):
        return (503, b'{"error": "busy"}') if n <= 2 else good(instances, n)

    endpoint = Endpoint(flaky)
    with serve(endpoint) as url:
        adapter = HttpEndpointAdapter(url, n_classes=2, retries=3, backoff=0.01)
        out = adapter.predict(X[:10])
    assert len(endpoint.requests) == 3 and adapter.requests_sent == 3
    np.testing.assert_array_equal(out.values, model.predict_proba(X[:10]))


def test_gives_up_after_retries(fitted):
    endpoint = Endpoint(lambda instances, n: (500, b"boom"))
    with serve(endpoint) as url:
        with pytest.raises(InputError, match=r"failed after 3 attempts: HTTP 500") as exc:
            HttpEndpointAdapter(url, n_classes=2, retries=2, backoff=0.01).predict(fitted[1][:5])
    assert url in str(exc.value)
    assert len(endpoint.requests) == 3


def test_400_is_not_retried(fitted):
    endpoint = Endpoint(lambda instances, n: (400, b'{"error": "bad feature count"}'))
    with serve(endpoint) as url:
        with pytest.raises(InputError, match=r"HTTP 400 .*bad feature count.*attempt 1 of 4") as exc:
            HttpEndpointAdapter(url, n_classes=2, backoff=0.01).predict(fitted[1][:5])
    assert url in str(exc.value) and "\n" not in str(exc.value)
    assert len(endpoint.requests) == 1


def test_timeout_is_retried_then_reported(fitted):
    model, X = fitted
    endpoint = Endpoint(_ok(model), delay=0.5)
    with serve(endpoint) as url:
        with pytest.raises(InputError, match=r"failed after 2 attempts: timed out after 0.1 s"):
            HttpEndpointAdapter(url, n_classes=2, timeout=0.1, retries=1, backoff=0.01).predict(X[:5])
    assert len(endpoint.requests) == 2


def test_connection_refused(fitted):
    with serve(Endpoint(_ok(fitted[0]))) as url:
        pass  # the server is shut down: nothing listens on the port any more
    with pytest.raises(InputError, match=r"failed after 2 attempts: connection failed"):
        HttpEndpointAdapter(url, n_classes=2, retries=1, backoff=0.01).predict(fitted[1][:5])


@pytest.mark.parametrize("body, message", [
    (b"{not json", "malformed JSON"),
    (b'{"outputs": []}', '"predictions"'),
    (b'{"predictions": [[0.5, 0.5]]}', "returned 1 rows of predictions for a batch of 5 records"),
    (b'{"predictions": [[0.5, 0.5, 0.0]] }', "1 rows"),
])
def test_bad_responses(fitted, body, message):
    with serve(Endpoint(lambda instances, n: (200, body))) as url:
        with pytest.raises(InputError, match=message):
            HttpEndpointAdapter(url, n_classes=2).predict(fitted[1][:5])


def test_wrong_width_and_bad_labels(fitted):
    X = fitted[1][:3]
    with serve(Endpoint(lambda instances, n: (200, b'{"predictions": [[1, 0, 0], [1, 0, 0], [1, 0, 0]]}'))) as url:
        with pytest.raises(InputError, match=r"shape \(3, 3\); expected \(3, 2\)"):
            HttpEndpointAdapter(url, n_classes=2).predict(X)
    with serve(Endpoint(lambda instances, n: (200, b'{"predictions": [0.5, 1, 0]}'))) as url:
        with pytest.raises(InputError, match="one integer label per record"):
            HttpEndpointAdapter(url, n_classes=2, returns="labels").predict(X)


def test_rate_limit_spaces_requests(fitted):
    model, X = fitted
    rate = 20.0
    endpoint = Endpoint(_ok(model))
    with serve(endpoint) as url:
        HttpEndpointAdapter(url, n_classes=2, batch_size=2, rate_limit=rate).predict(X[:10])
    times = np.asarray(endpoint.times)
    assert len(times) == 5
    # the server stamps a request when it handles it: a late stamp shortens the next gap, so the
    # bound is on the span (load only lengthens it), not on the smallest gap
    assert times[-1] - times[0] >= 4 / rate - 0.005, np.diff(times)


def test_argument_checks():
    with pytest.raises(InputError, match="url"):
        HttpEndpointAdapter("ftp://x", n_classes=2)
    with pytest.raises(InputError, match="returns"):
        HttpEndpointAdapter("http://x", n_classes=2, returns="scores")
    with pytest.raises(InputError, match="retries"):
        HttpEndpointAdapter("http://x", n_classes=2, retries=-1)
    with pytest.raises(InputError, match="rate_limit"):
        HttpEndpointAdapter("http://x", n_classes=2, rate_limit=0)
    with pytest.raises(InputError, match="timeout"):
        HttpEndpointAdapter("http://x", n_classes=2, timeout=float("nan"))


# ---------------------------------------------------------------------------- a server that drips its answer

DRIP_BODY = b'{"predictions": [[0.25, 0.75]]}'
DRIP_RESPONSE = (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n"
                 b"Content-Length: " + str(len(DRIP_BODY)).encode() + b"\r\n\r\n" + DRIP_BODY)


def _client_gone(conn) -> bool:
    import select
    import socket

    try:
        readable, _, _ = select.select([conn], [], [], 0)
        return bool(readable) and conn.recv(1, socket.MSG_PEEK) == b""
    except OSError:
        return True


@contextlib.contextmanager
def dripping(gap: float = 0.2, connections: int = 1):
    """A raw-socket server on 127.0.0.1 that answers each connection with a valid response
    (one record's probabilities), one byte every ``gap`` seconds. Yields (url, sent): sent
    gets, per connection, the bytes sent before the client closed the connection
    (len(DRIP_RESPONSE) when it never did)."""
    import socket

    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    listener.settimeout(0.1)
    stop = threading.Event()
    sent: list[int] = []

    def drip(conn):
        conn.settimeout(5)
        request = b""
        while b"\r\n\r\n" not in request and len(request) < 65536:  # the request's headers, then its body
            chunk = conn.recv(4096)
            if not chunk:
                return
            request += chunk
        head, _, rest = request.partition(b"\r\n\r\n")
        length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length"))
        while len(rest) < length:
            rest += conn.recv(4096)
        for i in range(len(DRIP_RESPONSE)):
            if stop.is_set() or _client_gone(conn):
                sent.append(i)
                return
            try:
                conn.sendall(DRIP_RESPONSE[i:i + 1])
            except OSError:
                sent.append(i)
                return
            time.sleep(gap)
        sent.append(len(DRIP_RESPONSE))

    def serve():
        for _ in range(connections):
            while True:  # a connection already waiting is taken even after stop
                try:
                    conn, _ = listener.accept()
                    break
                except socket.timeout:
                    if stop.is_set():
                        return
            with conn:
                drip(conn)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}/predict", sent, thread
    finally:
        stop.set()
        thread.join(10)
        listener.close()


def test_the_timeout_is_a_deadline_for_the_whole_request():
    # 0.2 s a byte: the whole answer would take len(DRIP_RESPONSE) * 0.2 = 25 s; the timeout is 1 s
    with dripping() as (url, sent, thread):
        adapter = HttpEndpointAdapter(url, n_classes=2, timeout=1.0, retries=0)
        with pytest.raises(InputError, match=r"failed after 1 attempt: timed out after 1 s") as exc:
            adapter.predict(np.zeros((1, 3), np.float32))
        thread.join(10)  # the server notices the closed connection at its next byte
    assert url in str(exc.value) and "\n" not in str(exc.value)
    assert len(sent) == 1 and sent[0] < len(DRIP_RESPONSE) // 2, (sent, len(DRIP_RESPONSE))
    assert adapter.requests_sent == 1


def test_total_timeout_stops_the_retries():
    # without total_timeout: 6 attempts of 0.6 s each; with 1.5 s for the batch, at most 3 start
    with dripping(connections=6) as (url, sent, thread):
        adapter = HttpEndpointAdapter(url, n_classes=2, timeout=0.6, retries=5, backoff=0.0, total_timeout=1.5)
        with pytest.raises(InputError, match=r"failed after [1-4] attempts?: .*total_timeout of 1.5 s spent"):
            adapter.predict(np.zeros((1, 3), np.float32))
    assert 1 <= adapter.requests_sent <= 4 and len(sent) == adapter.requests_sent
    assert all(n < len(DRIP_RESPONSE) // 2 for n in sent), sent
    with pytest.raises(InputError, match="total_timeout must be a finite number > 0"):
        HttpEndpointAdapter(url, n_classes=2, total_timeout=0)
