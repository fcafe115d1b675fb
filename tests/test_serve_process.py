"""The real ``deepfeat serve`` process on a free 127.0.0.1 port: used over HTTP, and by a
headless Chromium (Debian's ``/usr/bin/chromium``, driven by Playwright) that drops a demo
image on the page, reads the verdict and saves ``docs/serve_page.png``."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import select
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

pytest.importorskip("starlette")
pytest.importorskip("uvicorn")

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def running_server(model: Path, *extra: str, env: dict | None = None):
    """``deepfeat serve MODEL`` in a subprocess; yields its base URL once /healthz answers."""
    port = free_port()
    cmd = [sys.executable, "-m", "deepfeat.cli", "serve", str(model), "--port", str(port), *extra]
    url = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryFile() as log:  # a file, not a pipe: the server never blocks on it
        proc = subprocess.Popen(
            cmd, env={**os.environ, **(env or {})}, stdout=log, stderr=subprocess.STDOUT
        )
        try:
            _wait_healthy(proc, url, log)
            yield url
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _wait_healthy(proc: subprocess.Popen, url: str, log) -> None:
    deadline = time.monotonic() + 120
    while True:
        if proc.poll() is not None:
            log.seek(0)
            raise AssertionError(f"server exited {proc.returncode}: {log.read().decode()}")
        try:
            with urllib.request.urlopen(f"{url}/healthz", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise AssertionError("server did not answer /healthz within 120 s")
        time.sleep(0.25)


def multipart(files: list[tuple[str, bytes]]) -> tuple[bytes, str]:
    boundary = "deepfeat-test-boundary"
    parts = []
    for name, data in files:
        head = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n"
        )
        parts.append(head.encode() + data + b"\r\n")
    return b"".join(parts) + f"--{boundary}--\r\n".encode(), boundary


def call(url: str, path: str, files=None, headers=None, method=None) -> tuple[int, object]:
    data, hdrs = None, dict(headers or {})
    if files is not None:
        data, boundary = multipart(files)
        hdrs["Content-Type"] = f"multipart/form-data; boundary={boundary}"
    req = urllib.request.Request(f"{url}{path}", data=data, headers=hdrs, method=method)
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


@pytest.fixture(scope="module")
def server(trained):
    demo, _, model = trained
    with running_server(model, "--reference", str(demo), "-q") as url:
        yield url


def _demo_image(demo: Path, cls: str, i: int = 0) -> Path:
    return sorted((demo / cls).iterdir())[i]


@pytest.mark.slow
def test_real_server_over_http(server, trained):
    demo, _, _ = trained
    img = _demo_image(demo, "fake", 0)
    status, rows = call(server, "/v1/predict", files=[(img.name, img.read_bytes())])
    assert status == 200 and rows[0]["path"] == img.name and rows[0]["label"] in ("real", "fake")
    status, card = call(server, "/v1/model")
    assert status == 200 and card["reference_spectrum"]["n_images"] > 0
    status, body = call(server, "/v1/predict", files=[("x.png", b"not an image")])
    assert status == 422 and body["error"].startswith("no usable image")
    status, body = call(server, "/nowhere")
    assert status == 404 and body["error"]
    status, body = call(server, "/v1/model", method="POST", files=[])
    assert status == 405
    status, rows = call(server, "/v1/predict", files=[(img.name, img.read_bytes())])
    assert status == 200  # still serving


@pytest.mark.slow
def test_real_server_stops_reading_an_over_limit_body(server):
    """A chunked upload (no Content-Length) over the 20 MB default gets its 413 while the
    client is still sending: the limit is enforced on the stream, not after it."""
    host, port = server.removeprefix("http://").split(":")
    chunk = b"\1" * 65536
    n_chunks = 2 * 20 * 1024 * 1024 // len(chunk)  # twice the limit
    sent, reply = 0, b""
    with socket.create_connection((host, int(port)), timeout=30) as s:
        s.sendall(
            b"POST /v1/predict HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
            b"Content-Type: multipart/form-data; boundary=zzz\r\n\r\n"
        )
        head = b"--zzz\r\nContent-Disposition: form-data; name=file; filename=a.png\r\n\r\n"
        s.sendall(b"%x\r\n%s\r\n" % (len(head), head))
        try:
            for _ in range(n_chunks):
                if select.select([s], [], [], 0)[0]:
                    break  # the server answered
                s.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                sent += 1
        except (BrokenPipeError, ConnectionResetError):
            pass
        with contextlib.suppress(OSError):
            while b"\r\n\r\n" not in reply or not reply.rstrip().endswith(b"}"):
                data = s.recv(65536)
                if not data:
                    break
                reply += data
    assert reply.startswith(b"HTTP/1.1 413"), reply[:200]
    assert b"over the limit of 20971520 bytes" in reply
    assert sent < n_chunks


@pytest.mark.slow
def test_real_server_token_from_the_environment(trained):
    demo, _, model = trained
    img = _demo_image(demo, "real", 0)
    with running_server(model, "-q", env={"DEEPFEAT_TOKEN": "tok-123"}) as url:
        assert call(url, "/v1/model")[0] == 401
        assert call(url, "/v1/model", headers={"Authorization": "Bearer tok-12"})[0] == 401
        status, rows = call(
            url,
            "/v1/predict",
            files=[(img.name, img.read_bytes())],
            headers={"Authorization": "Bearer tok-123"},
        )
        assert status == 200 and rows[0]["error"] == ""
        assert call(url, "/healthz")[0] == 200


# ------------------------------------------------------------------ the browser
def _browser(tmp_path):
    if not CHROMIUM.exists():
        pytest.skip(f"no {CHROMIUM} (Debian's chromium package; .ci/run installs it)")
    sync_api = pytest.importorskip("playwright.sync_api")
    return sync_api


@pytest.mark.slow
def test_page_in_a_real_browser(server, trained, tmp_path):
    """Drop one demo image on the page and choose another with the file input; the verdicts
    the page shows are the API's; the screenshot is docs/serve_page.png."""
    sync_api = _browser(tmp_path)
    demo, _, _ = trained
    dropped = _demo_image(demo, "fake", 2)
    chosen = _demo_image(demo, "real", 2)
    expected = {}
    for img in (dropped, chosen):
        status, rows = call(server, "/v1/predict", files=[(img.name, img.read_bytes())])
        assert status == 200
        expected[img.name] = rows[0]
    profile = tmp_path / "profile"
    with sync_api.sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            str(profile),
            executable_path=str(CHROMIUM),
            headless=True,
            args=CHROMIUM_FLAGS,
            viewport={"width": 1180, "height": 900},
        )
        try:
            page = context.new_page()
            outside = []
            page.on(
                "request",
                lambda r: (
                    None
                    if r.url.startswith((server, f"blob:{server}"))  # thumbnails: local blobs
                    else outside.append(r.url)
                ),
            )
            page.goto(f"{server}/")
            # (locators, not wait_for_function: the page's CSP forbids eval, rightly)
            page.wait_for_selector("#model-line:has-text('threshold')")
            page.evaluate(
                """async ({b64, name}) => {
                    const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
                    const dt = new DataTransfer();
                    dt.items.add(new File([bytes], name, {type: "image/png"}));
                    const drop = document.getElementById("drop");
                    for (const type of ["dragenter", "dragover", "drop"]) {
                        drop.dispatchEvent(new DragEvent(type,
                            {dataTransfer: dt, bubbles: true, cancelable: true}));
                    }
                }""",
                {"b64": base64.b64encode(dropped.read_bytes()).decode(), "name": dropped.name},
            )
            page.wait_for_selector(".card .verdict")
            page.set_input_files("#file-input", str(chosen))
            page.locator(".card .verdict").nth(1).wait_for()
            page.locator(".card .spectrum svg").nth(1).wait_for()
            cards = page.query_selector_all(".card")
            seen = {}
            for card in cards:
                name = card.query_selector(".name").inner_text()
                seen[name] = {
                    "verdict": card.query_selector(".verdict").inner_text(),
                    "prob": card.query_selector(".prob").inner_text(),
                    "groups": [
                        tr.get_attribute("data-group")
                        for tr in card.query_selector_all("tr[data-group]")
                    ],
                    "reasons": len(card.query_selector_all("ul.reasons li")),
                    "ref_line": card.query_selector("polyline.ref") is not None,
                }
            docs = REPO / "docs"
            shot = tmp_path / "serve_page.png"
            page.screenshot(path=str(shot), full_page=True)
        finally:
            context.close()
    assert set(seen) == set(expected)
    for name, row in expected.items():
        assert seen[name]["verdict"] == row["label"].upper()
        assert seen[name]["prob"].startswith(f"P(fake) = {100 * row['probability_fake']:.1f} %")
        assert seen[name]["groups"] == ["fft", "meta", "bias"]
        assert seen[name]["reasons"] == len(row["top_reasons"].split("; "))
        assert seen[name]["ref_line"]
    assert outside == []  # the page loads nothing from elsewhere
    assert shot.stat().st_size > 10_000
    shutil.copyfile(shot, docs / "serve_page.png")
