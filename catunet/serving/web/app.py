"""The web app: one page to try the model, and the JSON API behind it.

    GET  /              the page (plain HTML and JavaScript, no CDN)
    GET  /api/health    what is serving
    POST /api/segment   multipart form, the photo in field ``file`` ->
                        the mask as a PNG (base64) and the outlines as
                        polygons in the photo's pixel coordinates

FastAPI gives the request parsing, the JSON errors and an OpenAPI schema
(``/openapi.json``); the work is ``catunet.serving.uploads`` (checking and
decoding) and ``catunet.serving.segmenter`` (one model, a queue, batches). Uploads
are read in memory up to ``uploads.MAX_BYTES``; nothing is written to disk
except the multipart parser's own spool in the system's temporary folder.
"""

import base64
import logging
import socket
import threading
import time
from pathlib import Path

from fastapi import FastAPI, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel

from catunet.serving import uploads

STATIC = Path(__file__).parent / "static"
LOG = logging.getLogger("catunet.serving.web")
# The form's boundaries and headers add a little to the photo itself.
MAX_REQUEST_BYTES = uploads.MAX_BYTES + 64 * 1024


class Problem(BaseModel):
    """What every 4xx and 5xx answer holds."""

    error: str


class Segmented(BaseModel):
    """The answer of ``POST /api/segment``."""

    name: str
    width: int
    height: int
    area: float
    polygons: list[list[list[int]]]
    mask_png: str


# Every status the API answers with besides 200, as its schema states.
PROBLEMS = {
    400: "the file is empty, or the photo damaged or cut short",
    413: "the upload or the photo is too large",
    415: "not a photo that can be read",
    422: "no multipart form field named 'file'",
    500: "the server failed (logged)"}
RESPONSES = {status: {"model": Problem, "description": text}
             for status, text in PROBLEMS.items()}


def _error(status, message):
    return JSONResponse({"error": message}, status_code=status)


def create_app(segmenter):
    """The FastAPI app serving ``segmenter`` (a ``serving.Segmenter``)."""
    app = FastAPI(title="catunet", docs_url=None, redoc_url=None,
                  description="Segment the cat (or any foreground) in a photo.")
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.middleware("http")
    async def refuse_large_bodies(request: Request, call_next):
        length = request.headers.get("content-length")
        if length and length.isdigit() and int(length) > MAX_REQUEST_BYTES:
            return _error(413, f"the upload is {int(length) / 2**20:.1f} MiB; "
                          f"the limit is {uploads.MAX_BYTES / 2**20:.0f} MiB")
        return await call_next(request)

    @app.exception_handler(uploads.UploadError)
    async def upload_error(request, error):
        return _error(error.status, str(error))

    @app.exception_handler(Exception)
    async def unexpected(request, error):  # logged, and still JSON
        LOG.exception("%s %s failed", request.method, request.url.path)
        return _error(500, f"the server failed on this photo "
                      f"({type(error).__name__}); it is logged")

    @app.exception_handler(RequestValidationError)
    async def bad_form(request, error):
        return _error(422, "send the photo as a multipart form field named "
                      "'file' (curl -F file=@cat.jpg ...)")

    @app.get("/", include_in_schema=False)
    async def page():
        return FileResponse(STATIC / "index.html")

    @app.get("/api/health", responses={500: RESPONSES[500]})
    async def health() -> dict:
        return {"status": "ok", **segmenter.describe()}

    @app.post("/api/segment", response_model=Segmented,
              responses=RESPONSES)
    async def segment(file: UploadFile):
        uploads.check_content_type(file.content_type)
        payload = await file.read(uploads.MAX_BYTES + 1)
        photo = uploads.decode_photo(payload)
        result = await run_in_threadpool(segmenter.segment, photo)
        height, width = photo.shape[:2]
        return {"name": Path(file.filename or "photo").name,
                "width": width, "height": height, "area": result.area,
                "polygons": result.polygons(),
                "mask_png": base64.b64encode(result.png()).decode("ascii")}

    return app


class Background:
    """The app served by uvicorn on a thread of this process (tests, the
    study's latency report): ``with Background(segmenter) as url: ...``.

    Args:
        port: 0 takes a free port.
    """

    def __init__(self, segmenter, host="127.0.0.1", port=0, timeout=30):
        import uvicorn

        if not port:
            with socket.socket() as probe:
                probe.bind((host, 0))
                port = probe.getsockname()[1]
        self.url = f"http://{host}:{port}"
        self.server = uvicorn.Server(uvicorn.Config(
            create_app(segmenter), host=host, port=port, log_level="warning"))
        self.timeout = timeout

    def __enter__(self):
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + self.timeout
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the server did not start at {self.url}")
            time.sleep(0.05)
        return self.url

    def __exit__(self, *exc):
        self.server.should_exit = True
        self.thread.join(self.timeout)


def serve(model_path, host="127.0.0.1", port=8000, runtime="auto",
          settings=None):
    """Loads the model once and serves the app until interrupted."""
    import uvicorn

    from catunet.serving.segmenter import Segmenter

    segmenter = Segmenter(model_path, runtime, settings)
    info = segmenter.describe()
    shape = (f"width {info['width']}" if info["encoder"] in ("paper", None)
             else f"U-Net over {info['encoder']}")
    print(f"Serving {model_path} ({shape}, {info['runtime']}) "
          f"at http://{host}:{port}/  (Ctrl+C stops)", flush=True)
    try:
        uvicorn.run(create_app(segmenter), host=host, port=port,
                    log_level="warning")
    finally:
        segmenter.close()
