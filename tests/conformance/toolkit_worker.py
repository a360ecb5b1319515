"""Runs inside the toolkit venv (never imports forgeml): answers one JSON request per line.

Request {"base_dir", "environ"}: the toolkit's Environment() over that tree.
Request {"error": {"cmd", "code", "message", "info"}}: str() of its ExecuteUserScriptError.
"""

from __future__ import annotations

import importlib
import json
import os
import sys

# Answers go to the original stdout; anything the toolkit prints or logs goes to stderr.
_ANSWERS = os.fdopen(os.dup(1), "w", encoding="utf-8")
os.dup2(2, 1)
_BASE_ENVIRON = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": os.environ["HOME"]}
# The toolkit asks boto3 for a region; keep any machine configuration out of it.
_BASE_ENVIRON |= {"AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull}
_INHERITED = ("CURRENT_HOST", "SAGEMAKER_JOB_NAME", "SAGEMAKER_REGION")


def environment_of(base_dir: str, environ: dict[str, str]) -> dict[str, object]:
    os.environ.clear()
    os.environ.update(_BASE_ENVIRON | environ | {"SAGEMAKER_BASE_DIR": base_dir})
    from sagemaker_training import environment, mapping

    # The module reads SAGEMAKER_BASE_DIR when imported: reload it for every tree.
    environment = importlib.reload(environment)
    env = environment.Environment()
    return {
        "env_vars": env.to_env_vars(),
        "cmd_args": mapping.to_cmd_args(env.hyperparameters),
        "inherited": {name: os.environ.get(name) for name in _INHERITED},
    }


def error_text(cmd: str, code: int, message: str, info: str | None) -> str:
    from sagemaker_training import errors

    return str(errors.ExecuteUserScriptError(cmd=cmd, return_code=code, output=message, info=info))


def main() -> None:
    for line in sys.stdin:
        request = json.loads(line)
        try:
            if "error" in request:
                e = request["error"]
                answer: object = error_text(e["cmd"], e["code"], e["message"], e["info"])
            else:
                answer = environment_of(request["base_dir"], request["environ"])
            reply = {"ok": answer}
        except Exception as exc:  # report it to the test instead of dying silently
            reply = {"error": f"{type(exc).__name__}: {exc}"}
        _ANSWERS.write(json.dumps(reply) + "\n")
        _ANSWERS.flush()


if __name__ == "__main__":
    main()
