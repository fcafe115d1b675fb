"""``deepfeat serve`` in-process: every route, limit and error class through Starlette's
TestClient, on the small demo model of ``conftest.trained``."""

from __future__ import annotations

import json
import struct
import threading
import time
import zlib

import pytest

pytest.importorskip("starlette")
pytest.importorskip("httpx2")

from starlette.testclient import TestClient

from deepfeat.serve import PredictionService, ServeLimits, create_app
from deepfeat.serve._service import Upload, reference_spectrum


@pytest.fixture(scope="module")
def model(trained):
    from deepfeat import DeepfakeDetector

    demo, _, path = trained
    det = DeepfakeDetector.load(path).set_params(progress=False)
    return demo, path, det


def _service(det, **limits) -> PredictionService:
    return PredictionService(det, limits=ServeLimits(**limits), model_path="model").start()


@pytest.fixture(scope="module")
def service(model):
    demo, _, det = model
    from deepfeat.datasets import resolve_input

    ref = reference_spectrum(det, resolve_input(str(demo)), source="demo")
    svc = PredictionService(det, reference=ref, model_path="model")
    svc.limits = ServeLimits(max_body_bytes=400_000, max_files=3)
    svc.start()
    yield svc
    svc.close()


@pytest.fixture(scope="module")
def client(service):
    with TestClient(create_app(service)) as c:
        yield c


def _image(demo, cls="real", i=0):
    path = sorted((demo / cls).iterdir())[i]
    return path, path.read_bytes()


def _png_claiming(width: int, height: int) -> bytes:
    """A 1×1 PNG whose header claims ``width × height`` pixels (a decompression bomb)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00\x00\x00\x00")
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def _assert_serving(client, demo):
    path, data = _image(demo)
    r = client.post("/v1/predict", files={"file": (path.name, data, "image/png")})
    assert r.status_code == 200, r.text
    assert r.json()[0]["label"] in ("real", "fake")


# ------------------------------------------------------------------ routes
def test_page_is_self_contained(client):
    r = client.get("/")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    html = r.text
    assert 'id="file-input"' in html and 'id="drop"' in html
    assert "http://" not in html.replace("http://www.w3.org/2000/svg", "")
    assert (
        "https://" not in html and "<link" not in html and "src=" not in html.split("<script>")[0]
    )
    assert "default-src 'none'" in r.headers["content-security-policy"]


def test_healthz(client):
    r = client.get("/healthz")
    assert r.status_code == 200 and r.json() == {"status": "ok", "pending": 0}


def test_model_card_summary(client, model):
    from deepfeat.datasets import resolve_input

    _, _, det = model
    m = client.get("/v1/model").json()
    assert m["feature_groups"] == ["fft", "meta"]
    assert m["threshold"] == pytest.approx(det.threshold)
    assert m["deepfeat_version"] and m["training"] == json.loads(json.dumps(m["training"]))
    assert m["spectrum_bins"] == len(m["reference_spectrum"]["values"]) > 0
    n_real = int((resolve_input(str(model[0]))["label"] == 0).sum())
    assert m["reference_spectrum"]["n_images"] == n_real  # the demo set's reals


def test_predict_matches_the_cli(client, model, capsys):
    """Same file, same fields and values as ``deepfeat predict`` (one code path)."""
    from deepfeat.cli import main

    demo, path, _ = model
    img, data = _image(demo, "fake", 3)
    assert main(["predict", str(path), str(img)]) == 0
    cli = json.loads(capsys.readouterr().out)
    r = client.post("/v1/predict", files={"file": (img.name, data, "image/png")})
    assert r.status_code == 200
    (row,) = r.json()
    assert row["path"] == img.name
    assert set(cli) <= set(row) and set(row) - set(cli) == {"spectrum"}
    for key, value in cli.items():
        if key != "path":
            assert row[key] == (pytest.approx(value) if isinstance(value, float) else value), key
    assert len(row["spectrum"]) == client.get("/v1/model").json()["spectrum_bins"]


def test_predict_several_files_keeps_order(client, model):
    demo, _, _ = model
    files = [_image(demo, "real", 1), _image(demo, "fake", 1)]
    r = client.post("/v1/predict", files=[("file", (p.name, d, "image/png")) for p, d in files])
    assert r.status_code == 200
    assert [row["path"] for row in r.json()] == [p.name for p, _ in files]


def test_client_file_names_are_not_paths(client, model):
    demo, _, _ = model
    _, data = _image(demo)
    r = client.post("/v1/predict", files={"file": ("../../x/evil.png", data, "image/png")})
    assert r.status_code == 200 and r.json()[0]["path"] == "evil.png"


# ------------------------------------------------------------------ bad requests
def test_no_file(client, model):
    r = client.post("/v1/predict", data={"other": "x"}, files={"nofile": ("a", b"x")})
    assert r.status_code == 400 and "no file" in r.json()["error"]
    r = client.post("/v1/predict", data={"file": "text, not a file"}, files={"x": ("a", b"1")})
    assert r.status_code == 400 and "must carry files" in r.json()["error"]
    _assert_serving(client, model[0])


def test_not_multipart(client):
    r = client.post("/v1/predict", content=b"{}", headers={"content-type": "application/json"})
    assert r.status_code == 415 and "multipart/form-data" in r.json()["error"]


def test_broken_multipart(client):
    r = client.post(
        "/v1/predict",
        content=b"garbage",
        headers={"content-type": "multipart/form-data; boundary=zzz"},
    )
    assert r.status_code == 400 and "error" in r.json()


def test_not_an_image(client, model):
    r = client.post("/v1/predict", files={"file": ("notes.jpg", b"not an image", "image/jpeg")})
    assert r.status_code == 422
    body = r.json()
    assert body["error"].startswith("no usable image: notes.jpg: ") and "\n" not in body["error"]
    assert body["results"][0]["probability_fake"] is None and body["results"][0]["label"] == ""
    _assert_serving(client, model[0])


def test_one_bad_file_among_good_ones_is_a_row_with_its_reason(client, model):
    demo, _, _ = model
    p, d = _image(demo)
    files = [("file", (p.name, d, "image/png")), ("file", ("empty.png", b"", "image/png"))]
    r = client.post("/v1/predict", files=files)
    assert r.status_code == 200
    good, bad = r.json()
    assert good["error"] == "" and bad["error"] and bad["probability_fake"] is None


def test_pixel_limit(client):
    bomb = _png_claiming(30_000, 30_000)
    r = client.post("/v1/predict", files={"file": ("bomb.png", bomb, "image/png")})
    assert r.status_code == 422
    assert "pixels" in r.json()["error"] or "bomb" in r.json()["error"]


def test_body_limit_from_content_length(client, model):
    big = b"\0" * 500_000
    r = client.post("/v1/predict", files={"file": ("big.png", big, "image/png")})
    assert r.status_code == 413 and "400000 bytes" in r.json()["error"]
    _assert_serving(client, model[0])


def test_body_limit_while_streaming(client, model):
    """No Content-Length (chunked): the limit is enforced on the bytes as they arrive
    (the real server's test checks the same over a socket)."""

    def chunks():
        yield b"--zzz\r\nContent-Disposition: form-data; name=file; filename=a.png\r\n\r\n"
        for _ in range(100):  # 100 × 64 kB: far over the limit
            yield b"\1" * 65536

    r = client.post(
        "/v1/predict",
        content=chunks(),
        headers={"content-type": "multipart/form-data; boundary=zzz"},
    )
    assert "content-length" not in r.request.headers
    assert r.status_code == 413 and "over the limit" in r.json()["error"]
    _assert_serving(client, model[0])


def test_too_many_files(client):
    files = [("file", (f"{i}.png", b"x", "image/png")) for i in range(4)]
    r = client.post("/v1/predict", files=files)
    assert r.status_code == 400 and "Too many files" in r.json()["error"]


@pytest.mark.parametrize(
    ("method", "path"), [("GET", "/v1/predict"), ("POST", "/healthz"), ("DELETE", "/v1/model")]
)
def test_wrong_method(client, method, path):
    r = client.request(method, path)
    assert r.status_code == 405 and r.json()["error"] == f"{method} is not allowed on {path}"


def test_unknown_route(client):
    r = client.get("/v2/nothing")
    assert r.status_code == 404 and r.json() == {"error": "no such route: /v2/nothing"}


def test_token(model):
    demo, _, det = model
    svc = _service(det)
    try:
        with TestClient(create_app(svc, token="s3cret")) as c:
            assert c.get("/v1/model").status_code == 401
            r = c.get("/v1/model", headers={"Authorization": "Bearer wrong"})
            assert r.status_code == 401 and r.json()["error"].startswith("bad token")
            assert r.headers["www-authenticate"] == "Bearer"
            p, d = _image(demo)
            r = c.post("/v1/predict", files={"file": (p.name, d)})
            assert r.status_code == 401 and r.json()["error"].startswith("missing token")
            assert c.get("/v1/model", headers={"Authorization": "Bearer s3cret"}).status_code == 200
            assert c.get("/v1/model", headers={"X-Deepfeat-Token": "s3cret"}).status_code == 200
            ok = c.post(
                "/v1/predict", files={"file": (p.name, d)}, headers={"X-Deepfeat-Token": "s3cret"}
            )
            assert ok.status_code == 200
            assert c.get("/healthz").status_code == 200 and c.get("/").status_code == 200
    finally:
        svc.close()


class _Gate:
    """Holds the worker thread of ``svc`` before it scores, until released."""

    def __init__(self, svc: PredictionService) -> None:
        self.entered, self.open = threading.Event(), threading.Event()
        score = svc._score

        def gated(jobs):
            self.entered.set()
            self.open.wait(30)
            score(jobs)

        svc._score = gated


def test_saturated_service_answers_503_then_recovers(model):
    demo, _, det = model
    svc = _service(det, max_pending=1)
    gate = _Gate(svc)
    p, d = _image(demo)
    try:
        with TestClient(create_app(svc)) as c:
            held = svc.submit([Upload(p.name, d)])
            assert gate.entered.wait(30)
            r = c.post("/v1/predict", files={"file": (p.name, d)})
            assert r.status_code == 503 and r.json()["error"].startswith("busy: 1 requests")
            assert r.headers["retry-after"] == "1"
            gate.open.set()
            assert held.result(30)[0]["label"] in ("real", "fake")
            _assert_serving(c, demo)
    finally:
        gate.open.set()
        svc.close()


def test_timeout_gives_504_and_the_service_goes_on(model):
    demo, _, det = model
    svc = _service(det, timeout=2.0)
    gate = _Gate(svc)
    try:
        with TestClient(create_app(svc)) as c:
            p, d = _image(demo)
            r = c.post("/v1/predict", files={"file": (p.name, d)})
            assert r.status_code == 504 and "timed out after 2 s" in r.json()["error"]
            gate.open.set()
            for _ in range(300):  # the timed-out job still runs to its end, then frees its slot
                if svc.pending == 0:
                    break
                time.sleep(0.1)
            _assert_serving(c, demo)
    finally:
        gate.open.set()
        svc.close()


def test_uploads_leave_nothing_behind(model, tmp_path, monkeypatch):
    import tempfile

    demo, _, det = model
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    svc = _service(det)
    try:
        with TestClient(create_app(svc)) as c:
            _assert_serving(c, demo)
            c.post("/v1/predict", files={"file": ("x.png", b"junk")})
    finally:
        svc.close()
    assert list(tmp_path.iterdir()) == []


def test_requests_queued_together_are_scored_in_one_batch(model):
    """Jobs waiting when the worker frees up join one extraction; each gets its rows."""
    demo, _, det = model
    svc = _service(det)
    gate = _Gate(svc)
    try:
        first = svc.submit([Upload("a.png", _image(demo, "real", 0)[1])])
        assert gate.entered.wait(30)
        later = [svc.submit([Upload(f"{i}.png", _image(demo, "fake", i)[1])]) for i in range(3)]
        gate.open.set()
        assert first.result(30)[0]["path"] == "a.png"
        assert [f.result(30)[0]["path"] for f in later] == ["0.png", "1.png", "2.png"]
    finally:
        gate.open.set()
        svc.close()


def test_serve_limits_are_checked():
    with pytest.raises(ValueError, match="timeout"):
        ServeLimits(timeout=0)
    with pytest.raises(ValueError, match="max_pending"):
        ServeLimits(max_pending=0)


def test_warm_up_fails_on_a_model_that_cannot_score(tmp_path):
    from deepfeat import DeepfakeDetector

    with pytest.raises(Exception, match="fitted"):
        PredictionService(DeepfakeDetector()).start()


def test_serve_command_errors_are_user_errors(tmp_path, model, capsys):
    from deepfeat.cli import main

    assert main(["serve", str(tmp_path / "no_model")]) == 1
    assert "deepfeat serve: error:" in capsys.readouterr().err
    assert main(["serve", str(model[1]), "--threshold", "2"]) == 1
    assert "--threshold must be in [0, 1]" in capsys.readouterr().err
