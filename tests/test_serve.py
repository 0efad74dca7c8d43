"""The HTTP service on a real uvicorn server on 127.0.0.1: endpoints, hostile input, load."""

from __future__ import annotations

import base64
import struct
import time
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2
import numpy as np
import pytest

from _helpers_data import write_dicom
from _helpers_serve import NAMES, BackgroundServer, saved_tiny_model

uvicorn = pytest.importorskip("uvicorn", reason="the service needs the [serve] extra")
httpx = pytest.importorskip("httpx", reason="the service tests need httpx ([dev] extra)")


@pytest.fixture(scope="module")
def served(tmp_path_factory):  # type: ignore[no-untyped-def]
    from xraycls.calibration import Calibration
    from xraycls.predict import Classifier
    from xraycls.serve import create_app
    from xraycls.zoo import update_model_info

    root = tmp_path_factory.mktemp("serve")
    path = saved_tiny_model(root / "m.keras")
    update_model_info(path, {"calibration": Calibration(temperature=1.5, threshold=0.3).to_dict()})
    clf = Classifier.load(path)
    app = create_app(clf, max_wait=0.01)
    server = BackgroundServer(app)
    with httpx.Client(base_url=server.url, timeout=60) as client:
        yield server, client, clf, root, app
    server.stop()


def _png(size: tuple[int, int] = (60, 50), dtype=np.uint8, value: int = 120) -> bytes:  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(value)
    hi = 255 if dtype == np.uint8 else 4095
    img = rng.integers(0, hi, size).astype(dtype)
    return cv2.imencode(".png", img)[1].tobytes()


def _rss_mb() -> float:
    status = Path("/proc/self/status")
    if not status.exists():
        pytest.skip("memory is measured from /proc/self/status (Linux only)")
    for line in status.read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS line")


def _pixel_bomb() -> bytes:
    """A valid 40000 x 40000 1-bit PNG of a few hundred kB (1.6 G pixels once decoded)."""
    w = h = 40000
    ihdr = struct.pack(">IIBBBBB", w, h, 1, 0, 0, 0, 0)
    comp = zlib.compressobj(9)
    row = b"\0" * (1 + w // 8)
    idat = b"".join(comp.compress(row) for _ in range(h)) + comp.flush()

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def test_health_model_and_page(served) -> None:  # type: ignore[no-untyped-def]
    _server, client, _clf, _, _ = served
    assert client.get("/health").json()["status"] == "ok"
    info = client.get("/model").json()
    assert info["class_names"] == NAMES and info["input_size"] == [32, 32]
    assert info["calibration"]["temperature"] == 1.5
    assert info["limits"]["max_upload_bytes"] == 32 * 2**20
    page = client.get("/")
    assert page.status_code == 200 and "Drop a chest X-ray" in page.text


def test_predict_formats_match_the_classifier(served, tmp_path) -> None:  # type: ignore[no-untyped-def]
    _server, client, clf, _, _ = served
    files = {
        "a.png": _png(),
        "b.jpg": cv2.imencode(".jpg", np.full((40, 70, 3), 100, np.uint8))[1].tobytes(),
        "deep.png": _png(dtype=np.uint16, value=7),
    }
    pytest.importorskip("pydicom")
    dcm = write_dicom(tmp_path / "x.dcm", (np.arange(48 * 40).reshape(48, 40) * 2) % 4096)
    files["x.dcm"] = dcm.read_bytes()
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
        want = clf.predict(str(tmp_path / name), details=True)[0]
        raw = client.post("/predict", content=data)
        multi = client.post("/predict", files={"file": (name, data)})
        for r in (raw, multi):
            assert r.status_code == 200, r.text
            body = r.json()
            assert body["class"] == want.label and body["decision"] == want.decision
            assert body["calibrated"] is True and body["decision"] in (
                "COVID",
                "not COVID",
                "refer",
            )
            for c in NAMES:
                assert body["probabilities"][c] == pytest.approx(want.probabilities[c], abs=1e-5)
    tta = client.post("/predict?tta=1", content=files["a.png"]).json()
    assert tta["uncertainty"] is not None


def test_explain_returns_an_overlay_png(served) -> None:  # type: ignore[no-untyped-def]
    _, client, _, _, _ = served
    r = client.post("/explain", files={"file": ("a.png", _png())})
    assert r.status_code == 200, r.text
    png = base64.b64decode(r.json()["overlay_png"])
    img = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR)
    assert img is not None and img.shape == (256, 256, 3)


def test_hostile_input_is_refused_and_the_server_keeps_serving(served) -> None:  # type: ignore[no-untyped-def]
    _, client, _, _, _ = served
    big = client.post("/predict", content=b"\0" * (32 * 2**20 + 1))
    assert big.status_code == 413 and "limit" in big.json()["error"]
    text = client.post("/predict", content=b"hello, I am not an X-ray")
    assert text.status_code == 400 and "not a PNG, JPEG or DICOM" in text.json()["error"]
    good = _png()
    cut = client.post("/predict", content=good[: len(good) // 2])
    assert cut.status_code == 400 and "truncated PNG" in cut.json()["error"]
    empty = client.post("/predict", content=b"")
    assert empty.status_code == 400 and "empty" in empty.json()["error"]
    nofile = client.post("/predict", files={"other": ("a.png", good)})
    assert nofile.status_code == 400 and "'file' field" in nofile.json()["error"]
    bomb = _pixel_bomb()
    assert len(bomb) < 2**20
    before = _rss_mb()
    t0 = time.perf_counter()
    r = client.post("/predict", files={"file": ("bomb.png", bomb)})
    assert r.status_code == 400 and "40000x40000" in r.json()["error"]
    assert time.perf_counter() - t0 < 5 and _rss_mb() - before < 200  # nothing was decoded
    assert client.get("/health").json()["status"] == "ok"
    assert client.post("/predict", content=good).status_code == 200


def test_64_concurrent_requests_succeed_in_fewer_model_calls(served) -> None:  # type: ignore[no-untyped-def]
    server, _client, _, _, app = served
    batcher = app.state.batcher
    calls0, images0 = batcher.calls, batcher.images
    payloads = [_png(value=i) for i in range(64)]
    with httpx.Client(base_url=server.url, timeout=120) as c, ThreadPoolExecutor(64) as pool:
        codes = list(pool.map(lambda d: c.post("/predict", content=d).status_code, payloads))
    assert codes == [200] * 64
    assert batcher.images - images0 == 64
    assert batcher.calls - calls0 < 64  # requests were batched together


def test_memory_stays_flat_over_1000_requests(served) -> None:  # type: ignore[no-untyped-def]
    server, _, _, _, _ = served
    data = _png(value=3)
    with httpx.Client(base_url=server.url, timeout=120) as c, ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda _: c.post("/predict", content=data).status_code, range(200)))
        start = _rss_mb()
        codes = list(pool.map(lambda _: c.post("/predict", content=data).status_code, range(1000)))
        grown = _rss_mb() - start
    assert codes == [200] * 1000
    assert grown < 40, f"RSS grew by {grown:.1f} MB over 1000 requests"


def test_cli_serve_binds_localhost_by_default() -> None:
    from xraycls.cli import _build_parser

    args = _build_parser().parse_args(["serve", "m.keras"])
    assert args.host == "127.0.0.1" and args.port == 8000 and args.max_upload_mb == 32


def _constant_png(value: int = 0) -> bytes:
    return cv2.imencode(".png", np.full((60, 50), value, np.uint8))[1].tobytes()


def test_host_header_is_checked(served) -> None:  # type: ignore[no-untyped-def]
    from starlette.testclient import TestClient

    from xraycls.errors import ConfigError

    server, client, clf, _, _ = served
    assert client.get("/health", headers={"Host": "evil.example"}).status_code == 400
    assert (
        client.get("/health", headers={"Host": f"rebind.attacker:{server.port}"}).status_code == 400
    )
    for ok in (f"localhost:{server.port}", f"[::1]:{server.port}", "127.0.0.1"):
        assert client.get("/health", headers={"Host": ok}).status_code == 200, ok
    from xraycls.serve import create_app

    more = create_app(clf, allowed_hosts=["scanner.local"])
    assert TestClient(more, base_url="http://scanner.local").get("/health").status_code == 200
    assert TestClient(more, base_url="http://other.local").get("/health").status_code == 400
    with pytest.raises(ConfigError, match="wildcard"):
        create_app(clf, allowed_hosts=["a*b.org"])


def test_near_constant_images_are_flagged(served) -> None:  # type: ignore[no-untyped-def]
    _server, client, _clf, _, _ = served
    for value in (0, 255, 128):
        body = client.post("/predict", content=_constant_png(value)).json()
        assert body["out_of_distribution"] is True, value
        assert "near-constant" in body["warnings"][0]
    body = client.post("/predict", content=_png()).json()
    assert body["out_of_distribution"] is False and body["warnings"] == []
    page = client.get("/").text
    assert "Out of distribution" in page


def test_multipart_content_type_ignores_case(served) -> None:  # type: ignore[no-untyped-def]
    _server, client, _clf, _, _ = served
    request = client.build_request("POST", "/predict", files={"file": ("scan.png", _png())})
    ctype = request.headers["content-type"]
    request.headers["content-type"] = ctype.replace("multipart/form-data", "Multipart/Form-Data")
    response = client.send(request)
    assert response.status_code == 200, response.text
    assert set(response.json()["probabilities"]) == set(NAMES)


def test_a_slow_body_times_out(served) -> None:  # type: ignore[no-untyped-def]
    import socket

    from xraycls.serve import create_app

    _server, _client, clf, _, _ = served
    slow = BackgroundServer(create_app(clf, body_timeout=0.5))
    try:
        with socket.create_connection(("127.0.0.1", slow.port), timeout=20) as sock:
            sock.sendall(
                b"POST /predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: image/png\r\n"
                b"Content-Length: 1000\r\n\r\n" + _png()[:10]
            )
            start = time.monotonic()
            reply = sock.recv(4096)
        assert reply.startswith(b"HTTP/1.1 408"), reply[:80]
        assert time.monotonic() - start < 10
    finally:
        slow.stop()


def test_bad_serve_options_are_one_line_errors(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    import socket

    from xraycls.cli import main
    from xraycls.errors import ConfigError
    from xraycls.serve import create_app

    model = str(tmp_path / "m.keras")
    for argv, flag in (
        (["--port", "70000"], "--port"),
        (["--max-upload-mb", "0"], "--max-upload-mb"),
        (["--max-upload-mb", "-1"], "--max-upload-mb"),
    ):
        assert main(["serve", model, *argv]) == 2
        err = capsys.readouterr().err
        assert flag in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    with pytest.raises(ConfigError, match="max_upload"):
        create_app(object(), max_upload=0)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert main(["serve", model, "--port", str(port)]) == 2
        err = capsys.readouterr().err
        assert f"port {port}" in err and "busy" in err and "--port" in err
    with socket.socket() as busy:
        busy.bind(("0.0.0.0", 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert main(["serve", model, "--host", "0.0.0.0", "--port", str(port)]) == 2
        err = capsys.readouterr().err
        assert "WARNING" in err and "0.0.0.0" in err and "busy" in err


def test_model_endpoint_and_page_show_the_training_data(served, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from starlette.testclient import TestClient

    from xraycls.predict import Classifier
    from xraycls.serve import create_app
    from xraycls.zoo import update_model_info

    _server, client, _clf, _, _ = served
    info = client.get("/model").json()
    assert info["training_data"] is None and info["audit_flags"] is None
    page = client.get("/").text
    assert "trained on is unknown" in page and "do not use on populations" in page
    assert "Trained on: " in page and "ages " in page and "Limits: " in page
    training = {
        "sources": {"cxr3": {"images": 120, "classes": {"COVID": 40, "Normal": 80}}},
        "classes": NAMES,
        "label_maps": {"cxr3": {"NORMAL": "Normal"}, "adults": {"Pneumonia": "Viral Pneumonia"}},
        "age": {"min": 18, "max": 90, "median": 55, "known": 100},
        "n_images": 120,
        "notes": ["adults only"],
    }
    path = saved_tiny_model(tmp_path / "m.keras")
    update_model_info(path, {"training_data": training, "audit_flags": ["one source per class"]})
    with TestClient(create_app(Classifier.load(path))) as test:
        got = test.get("/model", headers={"Host": "localhost"}).json()
    assert got["training_data"] == training and got["audit_flags"] == ["one source per class"]
    # The spelling map says nothing; the adults' Pneumonia changes what the class means.
    (note,) = got["class_notes"]
    assert "adults's 'Pneumonia'" in note and "non-COVID pneumonia" in note


def test_slow_headers_time_out(served) -> None:  # type: ignore[no-untyped-def]
    import socket
    import threading

    from _helpers_serve import _free_port
    from xraycls.serve import server_options

    _server, _client, clf, _, _ = served
    from xraycls.serve import create_app

    port = _free_port()
    config = uvicorn.Config(
        create_app(clf), host="127.0.0.1", port=port, log_level="warning",
        **server_options(head_timeout=0.5),
    )  # fmt: skip
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 60
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.05)
        with socket.create_connection(("127.0.0.1", port), timeout=20) as sock:
            sock.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n")  # never ends the head
            start = time.monotonic()
            for _ in range(20):  # trickling more header bytes does not extend the deadline
                time.sleep(0.1)
                try:
                    sock.sendall(b"X")
                except OSError:
                    break
            assert sock.recv(1024) == b""  # closed by the server
        assert time.monotonic() - start < 5
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=20) as client:
            assert client.get("/health").status_code == 200  # complete requests still work
            time.sleep(1.0)  # longer than the head timeout, between requests: a new connection
            assert client.get("/health").status_code == 200
    finally:
        server.should_exit = True
        thread.join(timeout=30)
