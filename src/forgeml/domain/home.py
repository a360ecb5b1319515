"""Where a ForgeML home lives unless told otherwise: `$FORGEML_HOME`, else `~/.forgeml`.

Shared by the server (its settings) and the SDK (which finds the local `forgeml up` there).
"""

from __future__ import annotations

import os
from pathlib import Path


def default_home() -> Path:
    return Path(os.environ.get("FORGEML_HOME", "~/.forgeml")).expanduser()
