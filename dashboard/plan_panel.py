"""The sidebar's plan file: the plan the page starts from (a link's, ``POOL_PLANNER_PLAN``'s or
``pool-planner dashboard --plan``'s), an upload that replaces it, the current plan as a TOML download, and the
page's state written into its link (``dashboard.urlstate``).

Every error is one line of text (an ``InputError``'s message through ``planner.text.md``), never a traceback.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import replace

import streamlit as st

from dashboard import launch, planfile, urlstate
from dashboard.inputs import Inputs, inputs_from
from planner.config import load_plan
from planner.model import InputError, Plan
from planner.plan_io import plan_to_toml
from planner.text import md

PLAN_ENV = launch.PLAN_ENV
BASE = "loaded_plan"
"""Session state: the loaded ``Plan`` (None: the sidebar alone makes the plan)."""
BASE_SOURCE = "loaded_plan_source"
BASE_IN_LINK = "loaded_plan_in_link"
"""Session state: the loaded plan came by upload or by link, so the link carries it."""
START = "start_inputs"
"""Session state: the sidebar values anyone opening the page's link starts from (the link holds the others)."""
NOTICES = "plan_notices"
CURRENT_TOML = "current_plan_toml"
"""Session state: the current plan as the download gives it (the last run's)."""
UPLOAD = "plan_upload"


def plan_at_start() -> tuple[Plan | None, str | None]:
    """The plan file named by ``POOL_PLANNER_PLAN`` (``--plan``), or why it could not be read (one line)."""
    path = os.environ.get(PLAN_ENV)
    if not path:
        return None, None
    try:
        return load_plan(path), None
    except InputError as err:
        return None, f"Plan file not loaded: {err}"


def start_session(apply_inputs: Callable[[Inputs], None], fallback: Inputs) -> bool:
    """The first run of a session: the link's plan, else the start file's, else ``fallback`` (the demo's plan or
    the defaults); then the link's sidebar values and view. Returns whether the numbers are a plan's or a
    link's (not to be replaced by the live server's limits)."""
    link = urlstate.read_link(st.query_params.to_dict())
    notices = [f"Link value ignored: {line}" for line in link.ignored]
    file_plan, file_error = plan_at_start()
    if file_error:
        notices.append(file_error)
    base = link.plan or file_plan
    start = planfile.inputs_for_plan(base) if base is not None else fallback
    st.session_state.update({BASE: base, BASE_IN_LINK: link.plan is not None, START: start, NOTICES: notices,
                             BASE_SOURCE: "the link" if link.plan is not None else os.environ.get(PLAN_ENV)})
    apply_inputs(replace(start, **link.inputs))
    for key, value in link.view.items():
        st.session_state[key] = value
    return base is not None or bool(link.inputs)


def on_upload(apply_inputs: Callable[[Inputs], None]) -> None:
    """The uploaded file becomes the page's plan; a bad one leaves the page as it was and says why in one line."""
    uploaded = st.session_state.get(UPLOAD)
    if uploaded is None:
        return
    try:
        plan = planfile.plan_from_upload(uploaded.name, uploaded.getvalue())
    except InputError as err:
        st.session_state[NOTICES] = [f"Plan file not loaded: {err}"]
        return
    start = planfile.inputs_for_plan(plan)
    st.session_state.update({BASE: plan, BASE_IN_LINK: True, START: start, NOTICES: [], BASE_SOURCE: uploaded.name,
                             "prefilled": True})
    apply_inputs(start)


def forget_plan_file() -> None:
    """A preset replaces the whole plan: nothing of the loaded file is kept."""
    st.session_state.update({BASE: None, BASE_IN_LINK: False})


def loaded_plan() -> Plan | None:
    return st.session_state.get(BASE)


def upload_section(box, apply_inputs: Callable[[Inputs], None]) -> None:
    """The uploader and its one-line notices, in ``box`` (the sidebar's plan-file expander)."""
    box.file_uploader("Load a plan file (TOML or JSON)", type=["toml", "json"], key=UPLOAD, on_change=on_upload,
                      args=(apply_inputs,), help="The sidebar takes its numbers; what it cannot show (URLs, "
                      "application names, more servers) is kept and comes back in the download")
    for line in st.session_state.get(NOTICES) or []:
        box.error(md(line), icon="⛔")


def download_section(box, plan: Plan | None, *, application_name: str | None = None, waiting: bool = False) -> None:
    """The current plan as TOML (URL passwords masked), and which of the loaded file's fields the sidebar
    does not show (they are kept). ``waiting``: the server's limits are not known yet (no download of defaults
    the first sample is about to replace)."""
    base = loaded_plan()
    if base is not None:
        source = st.session_state.get(BASE_SOURCE)
        box.caption(f"Plan from {md(source)}" if source else "Plan loaded")
        kept = planfile.kept_from_file(base, application_name=application_name)
        if kept:
            box.caption("Kept from the file, not shown in the sidebar: " + ", ".join(md(k) for k in kept))
    if plan is None or waiting:
        st.session_state.pop(CURRENT_TOML, None)
        box.caption("The plan can be downloaded once the server's limits are known." if waiting
                    else "Fix the inputs to download the plan.")
        return
    text = plan_to_toml(plan)
    st.session_state[CURRENT_TOML] = text
    box.download_button("Download this plan (plan.toml)", text, file_name="plan.toml", mime="application/toml",
                        key="download_plan", on_click="ignore")


def sync_link(view_keys: tuple[str, ...] = tuple(urlstate.VIEW_KEYS.values())) -> None:
    """Write the page's state into its URL: the sidebar values that differ from the start, the uploaded plan,
    the view."""
    if START not in st.session_state:
        return
    inputs = inputs_from(st.session_state)
    base = loaded_plan() if st.session_state.get(BASE_IN_LINK) else None
    params = urlstate.link_params(inputs, st.session_state[START], plan=base,
                                  view={key: st.session_state.get(key) for key in view_keys})
    if params != st.query_params.to_dict():
        st.query_params.from_dict(params)
