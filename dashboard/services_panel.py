"""The services editor on the page: the sidebar's service picker (add, remove, rename, start from what is running),
the selected service's own controls, and the main area's services per server with their shares.

Drawing and callbacks only; the state and every number are ``dashboard.services_editor``'s and the planner's.
Service names and application names may come from a live server: they are shown as text (``planner.text``), in
widget options and table cells (plain text) or through ``md`` (Markdown).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from functools import partial

import pandas as pd
import streamlit as st

from dashboard import services_editor, state
from dashboard.inputs import EDITOR_KEYS, Inputs
from dashboard.services_editor import SERVICE_KEYS, SURGE_UNITS, ServiceEntry
from planner.model import InputError, Plan
from planner.text import md, visible

SELECT = "svc_select"
FILTER = "svc_filter"
NOTICE = "svc_notice"
_KEYS = tuple(Inputs().as_dict())
_PER_SERVICE_ONLY = ("application_name", "engine_server", "has_workload")


def editing() -> bool:
    """Several services (or one named service): the sidebar's service controls show the selected one."""
    return bool(st.session_state.get("services"))


def entries() -> tuple[ServiceEntry, ...]:
    return st.session_state.get("services") or ()


def selected() -> ServiceEntry:
    return services_editor.entry(entries(), st.session_state.get("selected_service", ""))


def keep_values() -> None:
    """Keep every control's value across reruns where its widget is not drawn (a replica's or PgBouncer's, hidden
    for one service, are another's or the plan's): Streamlit forgets a widget's key it did not draw."""
    if editing():
        for key in _KEYS:
            if key in st.session_state and key not in EDITOR_KEYS:
                st.session_state[key] = st.session_state[key]


def _sidebar_values() -> dict[str, object]:
    return {key: st.session_state[key] for key in SERVICE_KEYS if key in st.session_state}


def _load(values) -> None:
    for key, value in values.items():
        st.session_state[key] = value
        st.session_state.pop(f"{key}__s", None)  # the slider beside it starts again from the value


def _show(entries_: tuple[ServiceEntry, ...], entry_id: str) -> None:
    """Make ``entry_id`` the selected service: its values into the sidebar's keys."""
    st.session_state["services"] = entries_
    st.session_state["selected_service"] = entry_id
    st.session_state[SELECT] = entry_id
    _load(services_editor.entry(entries_, entry_id).values)


def _committed() -> tuple[ServiceEntry, ...]:
    return services_editor.commit(entries(), st.session_state.get("selected_service", ""), _sidebar_values())


def _start_editing(application_name: str | None) -> bool:
    """The single-service page becomes the editor with its one service (named ``app``)."""
    try:
        plan = state.build_plan(state.inputs_from(st.session_state), application_name=application_name)
    except InputError as err:
        st.session_state[NOTICE] = f"Fix this first: {err}"
        return False
    st.session_state["base_plan"] = plan
    _show(services_editor.entries_from_plan(plan), "s1")
    return True


def on_add(application_name: str | None) -> None:
    if not editing() and not _start_editing(application_name):
        return
    current = _committed()
    base = st.session_state.get("base_plan")
    added = services_editor.new_service(current, base.servers[0].name if base is not None else state.PRIMARY)
    _show((*current, added), added.id)


def on_remove() -> None:
    left, next_id = services_editor.remove(_committed(), st.session_state["selected_service"])
    _show(left, next_id)


def on_select() -> None:
    _show(_committed(), st.session_state[SELECT])


def on_rename(entry_id: str) -> None:
    st.session_state["services"] = services_editor.rename(entries(), entry_id, st.session_state[f"svc:{entry_id}:name"])


def on_table_select(key: str, names: list[str]) -> None:
    rows = st.session_state[key].selection.rows
    by_name = {e.name: e.id for e in entries()}
    if rows and names[rows[0]] in by_name:
        _show(_committed(), by_name[names[rows[0]]])


def on_start_from_running(observe: Callable[[], tuple], server: str, application_name: str | None) -> None:
    """One service per application seen on ``server`` (``observe()``: ``services_editor.observed_apps``)."""
    apps = observe()
    if not apps:
        st.session_state[NOTICE] = "No application connection seen on this server yet (the monitor's own skipped)."
        return
    try:
        base = state.plan_from_inputs(state.inputs_from(st.session_state), application_name=application_name)
    except InputError as err:
        st.session_state[NOTICE] = f"Fix this first: {err}"
        return
    target = server if server in {s.name for s in base.servers} else base.servers[0].name
    found = services_editor.entries_from_observed(apps, target)
    st.session_state["base_plan"] = base.with_services(tuple(e.template for e in found))
    st.session_state[NOTICE] = (f"{len(found)} services from what runs on {server}: each pool is its observed peak "
                                "per process, a first guess to edit.")
    _show(found, found[0].id)


def preset_values(preset: Inputs) -> Inputs:
    """A preset while editing services: its server limits and pools for the selected service, the services kept."""
    if not editing():
        return preset
    keep = {key: st.session_state[key] for key in (*EDITOR_KEYS, *_PER_SERVICE_ONLY) if key in st.session_state}
    return replace(preset, **keep)


# -- the sidebar ----------------------------------------------------------------------------------------------

def sidebar(sb, observe: Callable[[], tuple], server: str, application_name: str | None) -> None:
    """The Services expander: pick, rename, add, remove; start from what runs on ``server``."""
    with sb.expander(f"Services · {len(entries())}" if editing() else "Services", expanded=editing()):
        if editing():
            current = selected()
            options = [e.id for e in entries()]
            if st.session_state.get(SELECT) != current.id:  # a plan loaded since: the widgets follow the state
                st.session_state[SELECT] = current.id
            names = {e.id: visible(e.name) for e in entries()}
            st.selectbox("Selected service (its settings below)", options, key=SELECT, on_change=on_select,
                         format_func=lambda entry_id: names.get(entry_id, entry_id),
                         help="The deployment, engines and workload sections show this service")
            name_key = f"svc:{current.id}:name"
            if st.session_state.get(name_key) != current.name:
                st.session_state[name_key] = current.name
            st.text_input("Name", key=name_key, on_change=on_rename, args=(current.id,),
                          help="1-63 letters, digits, '_', '.' or '-'")
        st.button("Add a service", key="svc_add", icon=":material/add:", on_click=on_add, args=(application_name,),
                  width="stretch", help="A new service with SQLAlchemy's default pool, selected for editing")
        if editing():
            st.button("Remove this service", key="svc_remove", icon=":material/delete:", on_click=on_remove,
                      disabled=len(entries()) < 2, width="stretch")
        st.button("Start from what is running", key="svc_from_running", width="stretch",
                  on_click=on_start_from_running, args=(observe, server, application_name),
                  help=f"One service per application_name seen on {visible(server)} (per-worker suffixes folded), "
                       "its observed peak as a first pool")
        notice = st.session_state.pop(NOTICE, None)
        if notice:
            st.caption(md(notice))


def server_names() -> list[str]:
    base = st.session_state.get("base_plan")
    names = [s.name for s in base.servers] if base is not None else [state.PRIMARY]
    current = st.session_state.get("engine_server")
    return names if current in names or current is None else [*names, current]


def engine_controls() -> None:
    """The selected service's first engine: its application_name and server (several services only)."""
    if editing():
        st.text_input("application_name", key="application_name",
                      help="How its connections are recognised on the server (per-worker suffixes like -3 fold)")
        st.selectbox("server of its first engine", server_names(), key="engine_server", format_func=visible)


def surge_control() -> tuple[str, int]:
    """The surge's unit (shown with several services, or for a count), and the surge slider's label and step."""
    if editing() or st.session_state.get("surge_unit", "%") != "%":
        st.segmented_control("rollout surge given as", SURGE_UNITS, key="surge_unit", required=True)
    if st.session_state.get("surge_unit", "%") == "%":
        return "rollout surge %", 5
    return "rollout surge (instances)", 1


def workload_control() -> bool:
    """The selected service takes requests; False: a worker or cron job without a workload (no sliders)."""
    if editing():
        st.toggle("takes requests (a workload)", key="has_workload")
        return bool(st.session_state["has_workload"])
    return True


def has_pgbouncer() -> bool:
    """The plan has a PgBouncer whose settings must stay shown (a service goes through it, or the loaded plan)."""
    base = st.session_state.get("base_plan")
    return editing() and base is not None and base.pgbouncer is not None


def replica_server_shown() -> bool:
    base = st.session_state.get("base_plan")
    return editing() and base is not None and any(s.replica_of is not None for s in base.servers)


def selected_plan(plan: Plan) -> Plan:
    """The selected service alone on the plan's servers (the wait chart's), or ``plan`` itself with one service."""
    name = selected().name if editing() else None
    if not plan.multi_service or name not in {s.name for s in plan.services}:
        return plan
    return plan.service_plan(name)


# -- the main area --------------------------------------------------------------------------------------------

def overview(plan: Plan | None) -> None:
    """Every service, grouped by server, with its share; a filter for many services; the selected one marked."""
    with st.expander(f"Services · {len(entries())} · selected: {md(selected().name)}", expanded=True,
                     icon=":material/apps:"):
        text = st.text_input("Filter services", key=FILTER, placeholder="name or application_name",
                             label_visibility="collapsed")
        shown = {e.name for e in entries() if services_editor.matches(e, text or "")}
        if plan is None:
            st.caption("Each server's share appears once the plan has no error.")
            st.dataframe(pd.DataFrame({"service": [visible(e.name) for e in entries() if e.name in shown]}),
                         hide_index=True)
            return
        _selected_engines(plan)
        for i, group in enumerate(services_editor.share_groups(plan, selected().name, shown)):
            st.caption(md(group.title))
            key = f"svc_table_{i}_{selected().id}"  # a new table per selection: no stale tick left in it
            names = [e.name for e in entries() if visible(e.name) in set(group.rows["service"])]
            st.dataframe(group.rows, hide_index=True, width="stretch", key=key, selection_mode="single-row",
                         on_select=partial(on_table_select, key, _row_names(group.rows, names)))
        hidden = len(entries()) - len(shown)
        if hidden:
            st.caption(f"{hidden} services hidden by the filter.")


def _row_names(rows: pd.DataFrame, names: list[str]) -> list[str]:
    """The service name of each row (the table shows them through ``visible``)."""
    by_shown = {visible(name): name for name in names}
    return [by_shown.get(shown, shown) for shown in rows["service"]]


def _selected_engines(plan: Plan) -> None:
    name = selected().name
    service = next((s for s in plan.services if s.name == name), None)
    if service is None:
        return
    rows = [{"engine": visible(e.name), "server": visible(e.server), "application_name": visible(e.application_name
             or ""), "pool_size": e.pool_size, "max_overflow": e.max_overflow, "pool_timeout": e.pool_timeout,
             "via PgBouncer": e.via_pgbouncer, "replica": e.meant_as_replica, "traffic share": e.traffic_share}
            for e in service.engines]
    dep = service.deployment
    st.caption(md(f"{service.name}: {dep.instances} instances x {dep.workers} workers, surge {dep.surge}, "
                  f"its engines:"))
    st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")
