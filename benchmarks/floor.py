"""The load test's baseline: a bare Tornado app answering every GET with a fixed JSON body
of about the size of a catalog answer. Same load generator, same machine: the most any
single Tornado process can serve here while sharing the cores with the load generator.

``python -m benchmarks.floor PORT``
"""

from __future__ import annotations

import asyncio
import json
import sys

from tornado import web

BODY = json.dumps(
    {
        "status": "success",
        "templates": [{"name": f"ml/template_{i:06d}.ipynb", "size": 1234} for i in range(50)],
    }
).encode()


class FloorHandler(web.RequestHandler):
    def get(self, _path: str) -> None:
        self.set_header("Content-Type", "application/json; charset=utf-8")
        self.finish(BODY)


async def serve(port: int) -> None:
    app = web.Application([(r"/(.*)", FloorHandler)], log_function=lambda _h: None)
    app.listen(port, address="127.0.0.1")
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(serve(int(sys.argv[1])))
