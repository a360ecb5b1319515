"""Loading `forgeml.yaml` safely: size and encoding checks, no aliases, no duplicate keys.

`load_yaml` returns the top-level mapping or raises `InvalidInput` located at the file.
"""

from __future__ import annotations

from typing import Any

import yaml

from forgeml.domain.errors import InvalidInput

MANIFEST_NAME = "forgeml.yaml"
MAX_MANIFEST_BYTES = 64 * 1024


class _ManifestLoader(yaml.SafeLoader):
    """safe_load, plus: no aliases (expansion bombs) and no duplicate keys (silent overrides)."""

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        if self.check_event(yaml.AliasEvent):
            mark = self.peek_event().start_mark  # type: ignore[no-untyped-call]  # stubs lack it
            raise yaml.composer.ComposerError(None, None, "aliases (*name) are not allowed", mark)
        return super().compose_node(parent, index)

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[str] = set()
        for key_node, _ in node.value:
            if isinstance(key_node, yaml.ScalarNode):
                if key_node.value in seen:
                    problem = f"duplicate key {key_node.value!r}"
                    raise yaml.constructor.ConstructorError(
                        None, None, problem, key_node.start_mark
                    )
                seen.add(key_node.value)
        return super().construct_mapping(node, deep)


def _file_problem(msg: str) -> InvalidInput:
    return InvalidInput.fields([{"loc": MANIFEST_NAME, "msg": msg}])


def load_yaml(text: str | bytes) -> dict[str, Any]:
    """Size-check, decode and safe-load the manifest; the top level must be a mapping."""
    if len(text) > MAX_MANIFEST_BYTES:  # cheap pre-check: a str has at most as many chars as bytes
        raise _file_problem(f"is larger than {MAX_MANIFEST_BYTES // 1024} KiB")
    raw = text if isinstance(text, bytes) else text.encode("utf-8", "surrogatepass")
    if len(raw) > MAX_MANIFEST_BYTES:
        raise _file_problem(f"is larger than {MAX_MANIFEST_BYTES // 1024} KiB")
    try:
        decoded = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise _file_problem(f"is not UTF-8 text (bad byte at offset {exc.start})") from None
    loader = _ManifestLoader(decoded)
    try:
        data = loader.get_single_data()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        why = ", ".join(part for part in (exc.context, exc.problem) if part)
        raise _file_problem(f"invalid YAML{where}: {why}") from None
    except yaml.YAMLError as exc:
        raise _file_problem(f"invalid YAML: {exc}") from None
    finally:
        loader.dispose()
    if data is None:
        raise _file_problem("is empty")
    if not isinstance(data, dict):
        raise _file_problem(f"must be a mapping of fields, got a {type(data).__name__}")
    return data
