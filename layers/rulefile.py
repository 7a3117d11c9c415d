"""Rule files: reading a district's rules from TOML and checking them whole.

A rule file is validated against the schema in `geo.rules` and against the layer
catalogue (every layer and kind it names must exist), and every problem is reported
with its place in the file, so a broken file is fixed in one pass and never loads
half-way.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

from pydantic import ValidationError

from geo.errors import RulesError
from geo.rules import Rules
from layers.catalogue import KIND_LAYERS, SPECS


def load_rules(path: Path | str) -> Rules:
    """Read and validate a rule file; raise RulesError listing every problem found."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise RulesError(f"rule file {path} does not exist") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise RulesError(f"rule file {path} cannot be read: {exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise RulesError(f"rule file {path} is not valid TOML: {exc}") from exc
    try:
        rules = Rules.model_validate(data)
    except ValidationError as exc:
        raise RulesError(f"rule file {path} is invalid:\n{problems(exc)}") from exc

    unknown = vocabulary_problems(rules)
    if unknown:
        listed = "\n".join(f"  {line}" for line in unknown)
        raise RulesError(f"rule file {path} names what the layer catalogue lacks:\n{listed}")
    return rules


def problems(exc: ValidationError) -> str:
    """One line per validation error: where in the file, and what is wrong."""
    lines = []
    for error in exc.errors():
        where = "".join(
            f"[{part}]" if isinstance(part, int) else f".{part}" for part in error["loc"]
        ).lstrip(".")
        message = error["msg"].removeprefix("Value error, ")
        if not where and error["type"] == "value_error":
            # cross-reference problems carry their own places, one a line
            lines += [f"  {part}" for part in message.splitlines()]
        else:
            lines.append(f"  {where or '(top level)'}: {message}")
    return "\n".join(lines)


def vocabulary_problems(rules: Rules) -> list[str]:
    """Layers, kinds and attributes the rules name that the catalogue does not know."""
    found = []
    for match in rules.conflict_matches():
        layers = set(match.layers or [])
        layers |= {KIND_LAYERS[k] for k in match.kinds or [] if k in KIND_LAYERS}
        known = {a for name in (layers or SPECS) if name in SPECS for a in SPECS[name].attributes}
        for test in match.where:
            if test.attribute not in known:
                scope = sorted(layers) or "any layer"
                found.append(
                    f"attribute {test.attribute!r} is not one the catalogue gives {scope} "
                    f"({', '.join(sorted(known))})"
                )
        for layer in match.layers or []:
            if layer not in SPECS:
                found.append(f"layer {layer!r} is not a catalogue layer ({', '.join(SPECS)})")
        for kind in match.kinds or []:
            if kind not in KIND_LAYERS:
                found.append(f"kind {kind!r} is not a catalogue kind")
            elif match.layers is not None and KIND_LAYERS[kind] not in match.layers:
                found.append(f"kind {kind!r} belongs to layer {KIND_LAYERS[kind]!r}, "
                             f"not to {match.layers}")  # fmt: skip
    return sorted(set(found))
