"""The benches' baseline: a bare FastAPI app (no auth, no database) on the same uvicorn settings
and event loop as `forgeml up`, with a list route, an upload sink and a file download.

    python bench/support/bare.py --port 8123 --dir /tmp/x
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import FileResponse

ITEM = {
    "id": "dst_0000000000000000000000000",
    "name": "bench-00",
    "kind": "tenant",
    "description": "",
    "tenant_id": "ten_0000000000000000000000000",
    "created_at": "2026-01-01T00:00:00Z",
}


def make_app(folder: Path) -> FastAPI:
    app = FastAPI()

    @app.get("/bare/items")
    async def items(limit: int = 20) -> dict[str, Any]:
        return {"items": [dict(ITEM, name=f"bench-{i:02}") for i in range(limit)]}

    @app.put("/bare/upload/{name}")
    async def upload(name: str, request: Request) -> dict[str, int]:
        """Write the body to disk as it arrives (what any upload must at least do), fsync."""
        size = 0
        with (folder / name).open("wb") as out:
            async for chunk in request.stream():
                out.write(chunk)
                size += len(chunk)
            out.flush()
            os.fsync(out.fileno())
        return {"size": size}

    @app.get("/bare/download/{name}")
    async def download(name: str) -> FileResponse:
        resp = FileResponse(folder / name)
        resp.chunk_size = 1 << 20  # Starlette's 64 KiB costs a thread hop each: be a fair baseline
        return resp

    return app


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--dir", type=Path, required=True)
    args = ap.parse_args()
    cfg = uvicorn.Config(  # as forgeml.main.make_runtime
        make_app(args.dir),
        host="127.0.0.1",
        port=args.port,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=5,
        proxy_headers=False,
    )
    import uvloop

    uvloop.run(uvicorn.Server(cfg).serve())


if __name__ == "__main__":
    main()
