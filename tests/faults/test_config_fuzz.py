"""Reliability row 20 for the one parser of outside input that had no fuzzing yet: the pole's
config, from a file (``load_config``) and as a mapping (``parse_config``, what a remote desired
config goes through). The serial-line, MQTT-payload and remote-envelope parsers are fuzzed in
their own folders (docs/reliability.md lists them)."""

from __future__ import annotations

import copy
import tempfile
import tomllib
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from pole_agent.config import ConfigError, load_config, parse_config, summary

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = tomllib.loads((ROOT / "deploy" / "config" / "pole.example.toml").read_text("utf-8"))

VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=20)
    | st.sampled_from(["", "00:00", "25:61", "Asia/Seoul", "../../etc", "/dev/radar", "nan"]),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=8,
)


def paths(data: dict[str, Any], prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every key path in a nested mapping (tables and values)."""
    out: list[tuple[str, ...]] = []
    for key, value in data.items():
        out.append((*prefix, key))
        if isinstance(value, dict):
            out += paths(value, (*prefix, key))
    return out


EXAMPLE_PATHS = paths(EXAMPLE)


def accepted_or_refused(data: dict[str, Any]) -> None:
    """A config mapping is either a valid config (that ``summary`` can describe) or refused with
    ConfigError naming at least one problem: nothing else may come out."""
    try:
        config = parse_config(data)
    except ConfigError as err:
        assert err.problems and all(isinstance(p, str) and p for p in err.problems)
        return
    assert summary(config)


@settings(max_examples=300)
@given(
    changes=st.lists(
        st.tuples(st.sampled_from(EXAMPLE_PATHS), VALUES, st.booleans()), min_size=1, max_size=4
    )
)
def test_a_mutated_config_mapping_is_parsed_or_refused_never_raises(
    changes: list[tuple[tuple[str, ...], Any, bool]],
) -> None:
    """Row 20 -- fuzzing every parser of outside input (config as a mapping, as a remote desired
    config arrives). Criterion: no exception escapes; hypothesis runs in the suite.

    Checked: the shipped pole example with up to four keys replaced by arbitrary values (any
    JSON-like type, nested) or removed: ``parse_config`` returns a config or raises ConfigError
    with at least one message, never anything else."""
    data = copy.deepcopy(EXAMPLE)
    for path, value, remove in changes:
        table: Any = data
        for key in path[:-1]:
            if not isinstance(table, dict) or not isinstance(table.get(key), dict):
                table = None
                break
            table = table[key]
        if isinstance(table, dict):
            if remove:
                table.pop(path[-1], None)
            else:
                table[path[-1]] = value
    accepted_or_refused(data)


@settings(max_examples=300)
@given(st.binary(max_size=400) | st.text(max_size=400).map(str.encode))
def test_any_config_file_is_loaded_or_refused_never_raises(raw: bytes) -> None:
    """Row 20 -- config files. Criterion: no exception escapes.

    Checked: arbitrary bytes and text as a config file: ``load_config`` returns a config or
    raises ConfigError with at least one message (not UTF-8, not TOML, or the keys wrong)."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "pole.toml"
        path.write_bytes(raw)
        try:
            load_config(path)
        except ConfigError as err:
            assert err.problems


@settings(max_examples=200)
@given(st.dictionaries(st.sampled_from(sorted(EXAMPLE)) | st.text(max_size=8), VALUES))
def test_any_mapping_as_the_whole_config_is_parsed_or_refused_never_raises(
    data: dict[str, Any],
) -> None:
    """Row 20 -- a remote desired config's ``config`` object with any keys and values.
    Criterion: no exception escapes.

    Checked: mappings of the config's own top-level keys or random ones to arbitrary values:
    a config or ConfigError, never anything else."""
    accepted_or_refused(data)
