"""Benchmark ``deepfeat serve``: a bounded load run against 127.0.0.1, writes
``docs/benchmarks_serve.md``.

A default detector (cnn + fft + meta) is trained on a 224 px demo set (the model is only
the vehicle: its accuracy is not measured here). The images scored are 224 px DFDC face
crops from ``../shared/data/dfdc_faces`` when present (read in place, never copied), else
224 px demo images. Measured, on the same images:

* ``ImageFeatures`` throughput: the model's own extractor on all images in one call
  (img/s, best of 2) -- the ceiling a service that also explains each verdict can reach;
* ``deepfeat predict MODEL IMAGE``: one process per image (start-up included), median;
* the service (the real ``deepfeat serve`` process): warm single-image latency (requests
  one after another, p50 / p99), then a load run of N requests (one image each) from 16
  concurrent keep-alive clients: requests/s, p50 / p99 latency, errors, and the server's
  RSS before, after the first run and after a second, equal run (flat = no growth).

Usage::

    .venv/bin/python scripts/benchmarks/run.py serve            # 1000 requests, 16 clients
    .venv/bin/python scripts/benchmarks/run.py serve --quick    # 200 requests

``run(quick)`` returns ``{"title", "markdown", "results"}`` for the benchmark driver.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
from _bench_base import command

#: The document this topic regenerates.
DOCUMENT = "docs/benchmarks_serve.md"
#: One line for ``run.py --list``.
SUMMARY = "deepfeat serve under load: throughput, latency, memory"

REPO = Path(__file__).resolve().parents[2]
SHARED_DATA = Path(os.environ.get("DEEPFEAT_SHARED_DATA", REPO.parent / "shared" / "data"))
OUT = REPO / "docs" / "benchmarks_serve.md"
BIN = Path(sys.executable).parent
CLIENTS = 16
GOALS = {"p50_ms": 50.0, "throughput_ratio": 0.8}


def _images(root: Path, n: int) -> tuple[list[Path], str]:
    dfdc = SHARED_DATA / "dfdc_faces" / "faces_224"
    if dfdc.is_dir():
        files = sorted(dfdc.glob("*.jpg"))[:n]
        if files:
            return files, f"{len(files)} DFDC face crops (224 px JPEG, ../shared/data)"
    from deepfeat import make_demo_dataset

    demo = make_demo_dataset(root / "images", n_images=n, image_size=224, random_state=5)
    files = sorted(demo.rglob("*.jpg"))[:n]
    return files, f"{len(files)} demo images (224 px JPEG, made by deepfeat)"


def _train(root: Path) -> Path:
    from deepfeat import make_demo_dataset

    demo = make_demo_dataset(root / "train", n_images=120, image_size=224, random_state=1)
    model = root / "model"
    subprocess.run(
        [str(BIN / "deepfeat"), "train", str(demo), "--out", str(model), "-q"],
        check=True,
        capture_output=True,
    )
    return model


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _body(path: Path) -> tuple[bytes, str]:
    boundary = "bench-boundary"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{path.name}"'
        "\r\nContent-Type: image/jpeg\r\n\r\n"
    ).encode()
    return head + path.read_bytes() + f"\r\n--{boundary}--\r\n".encode(), boundary


class _Client:
    """One keep-alive connection posting single-image requests."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)

    def post(self, body: bytes, boundary: str) -> tuple[int, float]:
        t0 = time.perf_counter()
        try:
            self.conn.request(
                "POST",
                "/v1/predict",
                body=body,
                headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
            )
            r = self.conn.getresponse()
            data = r.read()
            status = r.status if r.status != 200 or json.loads(data)[0]["label"] else -1
        except (OSError, http.client.HTTPException):
            self.conn.close()
            self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
            status = 0
        return status, time.perf_counter() - t0


def _load(port: int, bodies: list[tuple[bytes, str]], n: int, clients: int) -> dict[str, Any]:
    lat: list[float] = []
    errors: list[int] = []
    counter = iter(range(n))
    lock = threading.Lock()

    def worker() -> None:
        client = _Client(port)
        while True:
            with lock:
                i = next(counter, None)
            if i is None:
                return
            status, dt = client.post(*bodies[i % len(bodies)])
            with lock:
                lat.append(dt)
                if status != 200:
                    errors.append(status)

    cpu0 = time.process_time()
    t0 = time.perf_counter()
    threads = [threading.Thread(target=worker) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    ms = np.asarray(lat) * 1000
    return {
        "requests": n,
        "clients": clients,
        "seconds": round(wall, 2),
        "requests_per_s": round(n / wall, 1),
        "p50_ms": round(float(np.percentile(ms, 50)), 1),
        "p99_ms": round(float(np.percentile(ms, 99)), 1),
        "errors": len(errors),
        "client_cpu_s": round(time.process_time() - cpu0, 1),
    }


def _extractor_rate(model: Path, images: list[Path]) -> float:
    from deepfeat import DeepfakeDetector

    det = DeepfakeDetector.load(model)
    ext = det.features_.set_params(progress=False)
    paths = [str(p) for p in images]
    ext.transform_with_failures(paths[:8])  # session created, caches warm
    best = 0.0
    for _ in range(2):
        t0 = time.perf_counter()
        ext.transform_with_failures(paths)
        best = max(best, len(paths) / (time.perf_counter() - t0))
    return best


def _predict_cli(model: Path, images: list[Path], k: int) -> float:
    times = []
    for img in images[:k]:
        t0 = time.perf_counter()
        subprocess.run(
            [str(BIN / "deepfeat"), "predict", str(model), str(img), "-q"],
            check=True,
            capture_output=True,
        )
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def run(quick: bool = False) -> dict[str, Any]:
    n_requests = 200 if quick else 1000
    t_start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="deepfeat-bench-serve-") as tmp:
        root = Path(tmp)
        model = _train(root)
        images, image_note = _images(root, 64)
        bodies = [_body(p) for p in images]
        rate = _extractor_rate(model, images)
        cli_s = _predict_cli(model, images, 3 if quick else 5)
        port = _free_port()
        with tempfile.TemporaryFile() as log:
            proc = subprocess.Popen(
                [str(BIN / "deepfeat"), "serve", str(model), "--port", str(port), "-q"],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
            try:
                t0 = time.perf_counter()
                while True:
                    try:
                        c = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                        c.request("GET", "/healthz")
                        if c.getresponse().status == 200:
                            break
                    except OSError:
                        if proc.poll() is not None:
                            log.seek(0)
                            raise RuntimeError(log.read().decode()) from None
                        time.sleep(0.2)
                startup = time.perf_counter() - t0
                rss0 = _rss_mb(proc.pid)
                single = _Client(port)
                for b in bodies[:5]:
                    single.post(*b)
                seq = [single.post(*bodies[i % len(bodies)]) for i in range(50 if quick else 200)]
                seq_ms = np.asarray([dt for _, dt in seq]) * 1000
                warm = {
                    "requests": len(seq),
                    "p50_ms": round(float(np.percentile(seq_ms, 50)), 1),
                    "p99_ms": round(float(np.percentile(seq_ms, 99)), 1),
                    "errors": sum(s != 200 for s, _ in seq),
                    "requests_per_s": round(len(seq) / (seq_ms.sum() / 1000), 1),
                }
                load1 = _load(port, bodies, n_requests, CLIENTS)
                rss1 = _rss_mb(proc.pid)
                load2 = _load(port, bodies, n_requests, CLIENTS)
                rss2 = _rss_mb(proc.pid)
            finally:
                proc.terminate()
                proc.wait(timeout=30)
    results = {
        "images": image_note,
        "machine": f"{os.cpu_count()} cores, {platform.processor() or platform.machine()}",
        "load_average_before": [round(x, 2) for x in os.getloadavg()],
        "imagefeatures_img_per_s": round(rate, 1),
        "predict_cli_seconds_per_image": round(cli_s, 2),
        "server_startup_s": round(startup, 2),
        "warm_single": warm,
        "load_run_1": load1,
        "load_run_2": load2,
        "rss_mb": {"before": round(rss0), "after_run_1": round(rss1), "after_run_2": round(rss2)},
        "throughput_ratio": round(max(load1["requests_per_s"], load2["requests_per_s"]) / rate, 2),
        "seconds": round(time.perf_counter() - t_start, 1),
    }
    return {"title": "deepfeat serve", "markdown": _markdown(results, quick), "results": results}


def _markdown(r: dict[str, Any], quick: bool) -> str:
    w, l1, l2, rss = r["warm_single"], r["load_run_1"], r["load_run_2"], r["rss_mb"]
    ok = {
        "p50": w["p50_ms"] <= GOALS["p50_ms"],
        "ratio": r["throughput_ratio"] >= GOALS["throughput_ratio"],
        "errors": l1["errors"] == l2["errors"] == 0,
        "rss": rss["after_run_2"] - rss["after_run_1"] <= 0.05 * rss["after_run_1"],
    }
    mark = {True: "met", False: "**not met**"}
    cli = r["predict_cli_seconds_per_image"]
    single = f"{w['requests']} requests, {w['requests_per_s']} req/s"
    rows = [
        ("ImageFeatures (same images, one call)", f"{r['imagefeatures_img_per_s']} img/s", ""),
        ("`deepfeat predict MODEL IMAGE` (one process)", f"{cli} s", "per image, with start-up"),
        ("serve: start-up to /healthz", f"{r['server_startup_s']} s", "load + warm-up"),
        (
            "serve: warm single image, sequential",
            f"p50 {w['p50_ms']} ms, p99 {w['p99_ms']} ms",
            single,
        ),
    ]
    for name, run_ in (("load run 1", l1), ("load run 2", l2)):
        notes = (
            f"p50 {run_['p50_ms']} ms, p99 {run_['p99_ms']} ms, {run_['errors']} errors, "
            f"{run_['seconds']} s, client CPU {run_['client_cpu_s']} s"
        )
        what = f"serve: {name} ({run_['requests']} requests, {run_['clients']} clients)"
        rows.append((what, f"{run_['requests_per_s']} req/s", notes))
    rss_line = f"{rss['before']} → {rss['after_run_1']} → {rss['after_run_2']} MB"
    lines = [
        "# `deepfeat serve` benchmark",
        "",
        f"Written by `{command('serve', ['--quick'] if quick else [])}`"
        + f" ({r['seconds']} s). Images: {r['images']}; {r['machine']}; load average before "
        f"{r['load_average_before']} (the machine is shared: other runs compete for the cores). "
        "Clients run in the benchmark process on the same machine (their CPU time is listed).",
        "",
        "| what | result | notes |",
        "|---|---|---|",
        *[f"| {a} | {b} | {c} |" for a, b, c in rows],
        f"| server RSS | {rss_line} | before, after run 1, after run 2 |",
        "",
        "Goals (issue 28, 2 cores):",
        "",
        f"- warm single-image p50 ≤ {GOALS['p50_ms']:g} ms for a 224 px face: "
        f"{w['p50_ms']} ms, {mark[ok['p50']]}",
        f"- throughput ≥ 80 % of ImageFeatures: {r['throughput_ratio']:.0%} "
        f"({max(l1['requests_per_s'], l2['requests_per_s'])} req/s of one image vs "
        f"{r['imagefeatures_img_per_s']} img/s), {mark[ok['ratio']]}",
        f"- 0 errors: {l1['errors'] + l2['errors']} errors, {mark[ok['errors']]}",
        f"- flat RSS (run 2 adds ≤ 5 %): {rss['after_run_1']} → {rss['after_run_2']} MB, "
        f"{mark[ok['rss']]}",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="200 requests instead of 1000")
    ap.add_argument("--no-write", action="store_true", help="print, do not write the doc")
    args = ap.parse_args(argv)
    res = run(quick=args.quick)
    print(json.dumps(res["results"], indent=2))
    if not args.no_write:
        OUT.write_text(res["markdown"])
        print(f"wrote {OUT}")
