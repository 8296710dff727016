"""The gateway's OpenAPI document, generated from the code (FastAPI) and committed.

`python -m service.gateway.openapi` (run by `make schemas`) writes
schemas/generated/gateway-openapi.json; a test fails when it drifts. It lives here, not in
schemas/, because it is generated from the gateway's routes (schemas/ imports no service/).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from badges_schemas.export import GENERATED
from service.gateway.app import create_app
from service.settings import Settings

FILE = GENERATED / "gateway-openapi.json"


def document() -> dict[str, Any]:
    # Defaults, not the environment: the document must not depend on where it is made.
    app = create_app(Settings.model_construct(), connect=False)
    return app.openapi()


def render() -> str:
    return json.dumps(document(), indent=2, sort_keys=True) + "\n"


def main(path: Path = FILE) -> int:
    path.write_text(render())
    print(f"wrote {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
