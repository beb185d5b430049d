"""The page's state in its link (the URL query string): the what-if inputs, the loaded plan, the chosen server
and view, so that opening the link shows the same page.

- every sidebar value that differs from the page's starting values, by its widget key: ``?workers=3&pool_size=8``;
- ``plan``: an uploaded plan file, compressed (zlib, URL-safe base64 of ``plan_to_toml``: URL passwords masked);
  a plan named at start (``POOL_PLANNER_PLAN``, ``--plan``) is not put in the link, the server has it;
- ``server``, ``range``, ``by``: the server the detailed charts show, their time range and split.

Reading a link never fails: a value of the wrong type or out of the offered choices is left out and named in
``LinkState.ignored``. Part of the page's view-model; no Streamlit here.
"""

from __future__ import annotations

import base64
import binascii
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields

from dashboard.inputs import Inputs
from dashboard.liveview import TIME_RANGES
from planner.input_file import MAX_CONFIG_BYTES
from planner.model import InputError, Plan
from planner.plan_io import plan_from_toml, plan_to_toml

PLAN_KEY = "plan"
VIEW_KEYS = {"server": "picked_server", "range": "time_range", "by": "split_by"}
"""Query key -> session-state key of the view (not of the plan)."""
SPLITS = ("state", "application_name")
VIEW_DEFAULTS = {"time_range": "15 min", "split_by": "state"}
"""View values a link leaves out (the page's own defaults)."""
TRUE_WORDS = {"1": True, "true": True, "0": False, "false": False}
MAX_VALUE_CHARS = 64


@dataclass(frozen=True)
class LinkState:
    """What a link asks for."""

    inputs: dict[str, object] = field(default_factory=dict)
    """Sidebar values by widget key (typed as ``Inputs`` types them)."""
    plan: Plan | None = None
    view: dict[str, str] = field(default_factory=dict)
    """Session-state key -> value: server, time_range, split_by."""
    ignored: tuple[str, ...] = ()
    """One sentence per query value left out (plain text: escape it to show it)."""


def encode_plan(plan: Plan) -> str:
    return base64.urlsafe_b64encode(zlib.compress(plan_to_toml(plan).encode(), 9)).decode().rstrip("=")


def decode_plan(text: str) -> Plan:
    """The plan of a ``plan=`` value; ``InputError`` when it is not one (never another exception)."""
    try:
        raw = base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_", validate=True)
        inflater = zlib.decompressobj()
        toml = inflater.decompress(raw, MAX_CONFIG_BYTES)
        if inflater.unconsumed_tail:
            raise InputError("link plan", f"is larger than {MAX_CONFIG_BYTES:,} bytes")
        if not inflater.eof:
            raise InputError("link plan", "is cut short (not a whole plan this page wrote)")
        return plan_from_toml(toml.decode("utf-8"))
    except (binascii.Error, zlib.error, UnicodeDecodeError, ValueError) as err:
        if isinstance(err, InputError):
            raise InputError("link plan", str(err)) from None
        raise InputError("link plan", f"not a plan this page wrote ({type(err).__name__})") from None


def _typed(name: str, text: str, default: object) -> object:
    if len(text) > MAX_VALUE_CHARS:
        raise ValueError("too long")
    if isinstance(default, bool):
        if text.lower() not in TRUE_WORDS:
            raise ValueError("must be true or false")
        return TRUE_WORDS[text.lower()]
    if isinstance(default, int):
        return int(text)
    if isinstance(default, float):
        value = float(text)
        if value != value or value in (float("inf"), float("-inf")):
            raise ValueError("must be a finite number")
        return value
    return text


def _view_value(key: str, text: str, servers: tuple[str, ...] | None) -> str:
    choices = {"range": tuple(TIME_RANGES), "by": SPLITS}.get(key, servers)
    if choices is not None and text not in choices:
        raise ValueError("not one of the choices")
    return text


def read_link(params: Mapping[str, str | list[str]], *, servers: tuple[str, ...] | None = None) -> LinkState:
    """What ``params`` (``st.query_params`` as a dict: the last value of a repeated key wins) asks for.

    ``servers``: the names the ``server`` key may take (None: any)."""
    defaults = Inputs().as_dict()
    inputs: dict[str, object] = {}
    view: dict[str, str] = {}
    ignored: list[str] = []
    plan = None
    for key, raw in params.items():
        text = raw[-1] if isinstance(raw, list) else raw
        shown = text if len(text) <= MAX_VALUE_CHARS else text[:MAX_VALUE_CHARS] + "…"
        try:
            if key == PLAN_KEY:
                plan = decode_plan(text)
            elif key in VIEW_KEYS:
                view[VIEW_KEYS[key]] = _view_value(key, text, servers)
            elif key in defaults:
                inputs[key] = _typed(key, text, defaults[key])
            else:
                ignored.append(f"{key}: not a setting of this page")
        except InputError as err:
            ignored.append(str(err))
        except ValueError as err:
            ignored.append(f"{key}={shown!r}: {err}")
    return LinkState(inputs, plan, view, tuple(ignored))


def _text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value) if isinstance(value, float) else str(value)


def link_params(inputs: Inputs, start: Inputs, *, plan: Plan | None = None,
                view: Mapping[str, str | None] | None = None) -> dict[str, str]:
    """The query string of the page: the sidebar values that differ from ``start`` (the values the page starts
    from for anyone opening the link: the plan named at start, the demo's, or the defaults), the uploaded
    ``plan`` (None: none), and the view (session-state key -> value, None left out)."""
    params = {f.name: _text(getattr(inputs, f.name)) for f in fields(Inputs)
              if getattr(inputs, f.name) != getattr(start, f.name)}
    if plan is not None:
        params[PLAN_KEY] = encode_plan(plan)
    by_state_key = {state_key: key for key, state_key in VIEW_KEYS.items()}
    for state_key, value in (view or {}).items():
        if value is not None and state_key in by_state_key and value != VIEW_DEFAULTS.get(state_key):
            params[by_state_key[state_key]] = str(value)
    return params
