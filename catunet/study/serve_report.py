"""Latency of ``catunet serve`` under load, and the README's screenshot.

    python -m catunet.study.serve_report     # the model that ships

Starts the web app on 127.0.0.1 with the model (as ``catunet serve`` does),
sends the model's test photos one at a time, then ``--requests`` of them
from ``--clients`` concurrent clients, and records each request's latency;
then opens the page in headless chromium, uploads one test photo and saves
a screenshot. Writes ``reports/serve.json`` and ``reports/serve.png``;
``python -m catunet.study.report --render`` puts them in the README.
"""

import argparse
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from catunet import __version__, atomic, shipped
from catunet.errors import CatunetError
from catunet.inference.evaluate import model_test_pairs
from catunet.serving.segmenter import Segmenter
from catunet.serving.web.app import Background
from catunet.training import machine

REPORTS = Path("reports")


def _post(client, url, path):
    started = time.perf_counter()
    response = client.post(f"{url}/api/segment", files={
        "file": (path.name, path.read_bytes(), "image/jpeg")})
    if response.status_code != 200:
        raise CatunetError(f"{path}: the server answered "
                           f"{response.status_code}: {response.text}")
    return time.perf_counter() - started


def _percentiles(seconds):
    ms = 1000 * np.asarray(seconds)
    return {"p50_ms": float(np.percentile(ms, 50)),
            "p95_ms": float(np.percentile(ms, 95)),
            "max_ms": float(ms.max()), "count": len(ms)}


def measure(url, paths, requests=20, clients=4):
    """Sequential and concurrent latencies of ``POST /api/segment``."""
    import httpx2 as httpx

    with httpx.Client(timeout=120) as client:
        _post(client, url, paths[0])  # warm-up: first call compiles
        sequential = [_post(client, url, p) for p in paths]
    jobs = [paths[i % len(paths)] for i in range(requests)]

    def client_loop(k):
        with httpx.Client(timeout=120) as client:
            return [_post(client, url, jobs[i])
                    for i in range(k, requests, clients)]

    started = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        concurrent = [s for part in pool.map(client_loop, range(clients))
                      for s in part]
    wall = time.perf_counter() - started
    return {"sequential": _percentiles(sequential),
            "concurrent": {**_percentiles(concurrent), "clients": clients,
                           "wall_seconds": wall,
                           "photos_per_second": requests / wall}}


def screenshot(url, photo, out):
    """The page after uploading ``photo``, saved as ``out``."""
    from catunet.study import browser

    if browser.find_chromium() is None:
        raise CatunetError("no chromium found: install Debian's chromium "
                           "(apt install chromium) or set CATUNET_CHROMIUM")
    with browser.open_page(url + "/", width=1000, height=760) as page:
        browser.upload(page, [photo])
        page.screenshot(path=str(out))
    return out


def main(argv=None):
    p = argparse.ArgumentParser(
        prog="python -m catunet.study.serve_report", description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default=str(shipped.model_path()),
                   help="the .keras model to serve (default: the model that "
                   "ships, as catunet serve without --model)")
    p.add_argument("--runtime", default="auto",
                   help="keras, openvino or auto (as catunet serve)")
    p.add_argument("--requests", type=int, default=20,
                   help="requests sent concurrently")
    p.add_argument("--clients", type=int, default=4,
                   help="concurrent clients sending them")
    p.add_argument("--report", default=str(REPORTS),
                   help="folder of serve.json and serve.png")
    args = p.parse_args(argv)
    try:
        if not Path(args.model).is_file():
            raise CatunetError(f"{args.model}: no such model; train one with "
                               "python train.py")
        _, pairs = model_test_pairs(args.model)
        paths = [pair.image for pair in pairs]
        segmenter = Segmenter(args.model, args.runtime)
        with Background(segmenter) as url:
            print(f"Measuring {len(paths)} sequential and {args.requests} "
                  f"concurrent requests at {url} ...", flush=True)
            latency = measure(url, paths, args.requests, args.clients)
            shot = screenshot(url, paths[0], Path(args.report) / "serve.png")
        segmenter.close()
    except CatunetError as error:
        sys.exit(f"error: {error}")
    summary = {"command": "python -m catunet.study.serve_report "
               f"--model {args.model}", "code_version": __version__,
               "machine": machine.describe(), "serving": segmenter.describe(),
               "photos": len(paths), "latency": latency,
               "screenshot": shot.name}
    atomic.write_json(Path(args.report) / "serve.json", summary)
    c = latency["concurrent"]
    print(f"p50 {c['p50_ms']:.0f} ms, p95 {c['p95_ms']:.0f} ms with "
          f"{args.clients} clients; wrote {Path(args.report) / 'serve.json'}")


if __name__ == "__main__":
    main()
