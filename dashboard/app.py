"""Streamlit entry point: layout only. Every number comes from ``planner`` or from a live sample.

Run: ``streamlit run dashboard/app.py``. With no DATABASE_URL (environment or .streamlit/secrets.toml) it
starts an embedded PostgreSQL and a demo workload (``dashboard.demo``) and says so.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import streamlit as st  # noqa: E402

from dashboard import (  # noqa: E402
    charts,
    fleet,
    fleet_page,
    guard,
    incident_page,
    observe_panel,
    observe_view,
    pagestate,
    pgbouncer_page,
    pgbouncer_view,
    pitfalls,
    plan_panel,
    planfile,
    presets,
    probe_panel,
    rerun,
    services_editor,
    services_panel,
    state,
)
from dashboard.live import collector_reader  # noqa: E402
from dashboard.live.actions import actions_enabled  # noqa: E402
from dashboard.live.db import MONITOR_APPLICATION_NAME  # noqa: E402
from dashboard.live.monitor import Monitor  # noqa: E402
from dashboard.live.pgbouncer_cli import split_targets  # noqa: E402
from dashboard.live.prometheus_history import PrometheusHistory  # noqa: E402
from dashboard.liveview import sidebar_servers, with_own_live_limits  # noqa: E402
from dashboard.timeline import Timeline  # noqa: E402
from planner.budget import plan_budgets  # noqa: E402
from planner.model import InputError  # noqa: E402
from planner.text import md, md_code  # noqa: E402

LIVE_REFRESH_S = 2.0
VERDICT_BOX = {"safe": st.success, "tight": st.warning, "unsafe": st.error}
SEVERITY_ICON = {"critical": ":material/error:", "warning": ":material/warning:", "info": ":material/info:"}


@st.cache_resource(show_spinner="Starting the embedded PostgreSQL and the demo workload…")
def get_demo():
    # lazy, documented (tests/test_imports_at_top.py): the embedded server (pgserver) loads only in demo mode
    from dashboard import demo

    return demo.start_demo()


@st.cache_resource(show_spinner=False)
def get_history(targets: tuple[tuple[str, str], ...]) -> pagestate.StoreOpening:
    """A real server's history store in ``$POOL_PLANNER_DATA``, or why it cannot be opened (a state, not a crash)."""
    return pagestate.open_history(state.history_path(targets), collector_reader.open_store)


def history_key(targets: tuple[tuple[str, str], ...]) -> tuple[tuple[str, str], ...]:
    """The servers among the targets (PgBouncer consoles apart): what names their history file."""
    return tuple(sorted(split_targets(dict(targets))[0].items()))


@st.cache_resource(show_spinner=False)
def get_monitor(targets: tuple[tuple[str, str], ...], demo_mode: bool) -> Monitor:
    """One sampler per set of servers for the whole Streamlit process; it owns its own event loop thread.

    The demo's history is temporary (its server goes away with the process), and so is a real server's whose
    store cannot be opened.
    """
    servers, consoles = split_targets(dict(targets))  # PgBouncer consoles: URLs naming database pgbouncer
    history = None if demo_mode else get_history(history_key(targets)).store
    if history is not None:  # `pool-planner collect` runs for these servers: read its history, sample nothing
        reader = collector_reader.attach(history.path, servers, history)
        if reader is not None:
            return reader
    return Monitor(servers, interval_s=1.0, history=history, pgbouncers=consoles,
                   **incident_page.monitor_options()).start()


@st.cache_resource(show_spinner=False)
def get_timeline(targets: tuple[tuple[str, str], ...], demo_mode: bool, server: str) -> Timeline:
    """The live chart's counts, kept between reruns and sessions (only new samples are read each time)."""
    shared = None if demo_mode else PrometheusHistory.from_env()  # PROMETHEUS_URL: the team's shared history
    return Timeline(shared or get_monitor(targets, demo_mode).history, server)


@st.cache_data(show_spinner=False, max_entries=256)
def cached_wait_curve(plan, engine_name: str = state.PRIMARY):
    """The wait chart's points per plan (each point is memoised too, in state._wait_point)."""
    return state.wait_curve(plan, engine_name)


# -- sidebar helpers ----------------------------------------------------------------------------------------

def _sync(source: str, target: str) -> None:
    if source in st.session_state:  # a callback before it (a service switch) dropped the slider: the number stays
        st.session_state[target] = st.session_state[source]


def paired(container, label: str, key: str, low, high, step, help: str | None = None) -> None:
    """A slider with a number input beside it, both bound to ``st.session_state[key]``.

    The number input accepts any value (so a bad one reaches the planner and is reported inline); the
    slider covers the usual range.
    """
    value = st.session_state[key]
    st.session_state.setdefault(f"{key}__s", min(max(value, low), high))
    container.markdown(f"<div style='font-size:0.85rem;margin-bottom:0.9rem'>{label}</div>", unsafe_allow_html=True,
                       help=help)
    left, right = container.columns([3, 2], vertical_alignment="center")
    left.slider(label, low, high, step=step, key=f"{key}__s", on_change=_sync, args=(f"{key}__s", key),
                label_visibility="collapsed")
    right.number_input(label, step=step, key=key, label_visibility="collapsed",
                       on_change=lambda: st.session_state.update({f"{key}__s": min(max(st.session_state[key], low),
                                                                                          high)}))


def apply_inputs(inputs: state.Inputs) -> None:
    for name, value in inputs.as_dict().items():
        st.session_state[name] = value
        st.session_state.pop(f"{name}__s", None)


def on_preset() -> None:
    choice = st.session_state["preset"]
    if choice in presets.presets():
        apply_inputs(services_panel.preset_values(presets.presets()[choice]))  # the services kept, if any
        plan_panel.forget_plan_file()  # a preset is a whole plan: nothing of a loaded file stays
        st.session_state["prefilled"] = True  # the user chose: a late first sample must not overwrite it


def apply_recommendation(rec) -> None:
    apply_inputs(state.apply_recommendation(state.inputs_from(st.session_state), rec))


def apply_alternative(alternative) -> None:
    apply_inputs(state.apply_alternative(state.inputs_from(st.session_state), alternative))


MEASURED_SLIDERS = {"rps": (0.0, 5000.0), "hold_ms": (0.0, 1000.0)}


def use_measured_workload(change: dict) -> None:
    """Only the workload keys (and their sliders, clamped), not apply_inputs: this runs from the live fragment,
    where dropping every slider's key would fire the sidebar's slider callbacks on missing keys."""
    inputs = observe_view.apply_measured(state.inputs_from(st.session_state), change)
    for name in change:
        st.session_state[name] = getattr(inputs, name)
        if name in MEASURED_SLIDERS and f"{name}__s" in st.session_state:
            low, high = MEASURED_SLIDERS[name]
            st.session_state[f"{name}__s"] = min(max(getattr(inputs, name), low), high)
    st.session_state["prefilled"] = True  # the user chose: a late first sample must not overwrite it


def observed_apps(server: str) -> tuple[services_editor.ObservedApp, ...]:
    """The applications seen on ``server`` over the chart's time range and in its latest sample."""
    since = state.history_since(st.session_state.get("time_range") or "15 min", datetime.now(UTC))
    wide = get_timeline(target_key, demo is not None, server).window("application_name", since)
    latest_ = monitor.latest().get(server)
    counts = latest_.count_by("application_name") if latest_ is not None and latest_.ok else None
    return services_editor.observed_apps(wide, counts, own=MONITOR_APPLICATION_NAME)


def use_live_limits(settings) -> None:
    replica = getattr(monitor.latest().get(state.REPLICA), "settings", None)  # each server's limits to its own entry
    apply_inputs(state.prefill_from_server(state.inputs_from(st.session_state), settings, replica=replica))
    st.session_state["live_limits"] = True  # a plan's other servers follow their own live limits too
    st.session_state["prefilled"] = True


# -- page ---------------------------------------------------------------------------------------------------

st.set_page_config(page_title="Connection-pool planner", page_icon="🐘", layout="wide")
guard.enforce(st)  # viewer-safe error details and toolbar; no page at all on every interface unless chosen
targets = state.monitor_targets(st.secrets)
demo = None
if not targets:
    demo = get_demo()
    targets = {state.PRIMARY: demo.url()}
pgbouncers, pgbouncer_error = pgbouncer_view.configured_targets(st.secrets)
if demo is not None and demo.pgbouncer is not None:
    pgbouncers = {"pgbouncer": demo.pgbouncer.admin_url()}
target_key = tuple(sorted(targets.items())) + tuple(sorted(pgbouncers.items()))
monitor = get_monitor(target_key, demo is not None)
latest = monitor.latest()

if "pool_size" not in st.session_state:  # a session's first run: the link's or the start file's plan, or the demo's
    chosen = plan_panel.start_session(apply_inputs, state.initial_inputs(demo.plan if demo else None))
    st.session_state["prefilled"] = demo is not None or chosen  # a plan's own numbers are kept, never overwritten
services_panel.keep_values()
live_settings = getattr(latest.get(state.PRIMARY), "settings", None)
if not st.session_state.get("prefilled") and live_settings is not None:
    use_live_limits(live_settings)  # once per session, as soon as the first sample arrives
limits_known = pagestate.limits_known(prefilled=bool(st.session_state.get("prefilled")), live_settings=live_settings)

sb = st.sidebar
sb.header("Plan")
for name, url in state.masked_targets({**targets, **pgbouncers}).items():
    sb.caption(f"**{md(name)}**: {md_code(url)}")
if pgbouncer_error:
    sb.text(pgbouncer_error)
if demo is not None:
    sb.info(f"Demo: an embedded PostgreSQL (max_connections {demo.plan.servers[0].max_connections}) and "
            f"{len(demo.worker_pids)} worker processes. Set DATABASE_URL to monitor your own server.")
    sb.radio("Demo scenario", list(demo.scenarios), key="scenario", index=list(demo.scenarios).index(demo.scenario),
             on_change=lambda: demo.set_scenario(st.session_state["scenario"]),
             captions=list(demo.scenarios.values()))
    if demo.pgbouncer_note:
        sb.caption(demo.pgbouncer_note)
sb.selectbox("Preset", ["(keep my values)", *presets.presets()], key="preset", on_change=on_preset)
plan_box = sb.expander("Plan file", expanded=plan_panel.loaded_plan() is not None, icon=":material/description:")
plan_panel.upload_section(plan_box, apply_inputs)
live_server = state.PRIMARY if state.PRIMARY in targets else next(iter(targets))
app_name = demo.plan.engines[0].application_name if demo else None
services_panel.sidebar(sb, lambda: observed_apps(live_server), live_server, app_name)

with sb.expander("Server limits", expanded=True):
    c = st.container()
    paired(c, "max_connections", "max_connections", 10, 1000, 1)
    paired(c, "superuser_reserved_connections", "superuser_reserved_connections", 0, 20, 1)
    paired(c, "reserved_connections (PG16+)", "reserved_connections", 0, 20, 1)
    paired(c, "other clients (cron, psql, monitoring)", "other_clients", 0, 100, 1)
    st.selectbox("PostgreSQL major version", list(range(12, 19)), key="major_version")
    if services_panel.replica_server_shown():
        paired(st.container(), "replica max_connections", "replica_max_connections", 10, 1000, 1)
    if live_settings is not None:
        st.button("Use the live server's limits", key="use_live_limits", on_click=use_live_limits,
                  args=(live_settings,), help="max_connections, reserved slots and version as the server reports them")
with sb.expander("Deployment", expanded=True):
    c = st.container()
    paired(c, "instances (pods)", "instances", 1, 50, 1)
    paired(c, "workers per instance", "workers", 1, 32, 1)
    surge_label, surge_step = services_panel.surge_control()  # a percent (as always), or a count of instances
    paired(c, surge_label, "surge_percent", 0, 100, surge_step)
    paired(c, "autoscale max instances (0 = off)", "autoscale_max", 0, 100, 1)
with sb.expander("Engines", expanded=True):
    c = st.container()
    paired(c, "pool_size", "pool_size", 0, 100, 1)
    paired(c, "max_overflow (-1 = unbounded)", "max_overflow", -1, 100, 1)
    paired(c, "pool_timeout (s)", "pool_timeout", 0.0, 120.0, 1.0)
    paired(c, "pool_recycle (s, -1 = never)", "pool_recycle", -1.0, 7200.0, 60.0)
    st.toggle("pool_pre_ping", key="pool_pre_ping")
    services_panel.engine_controls()
    st.toggle("Replica engine", key="replica")
    if st.session_state["replica"]:
        st.toggle("Replica URL points at the primary server", key="replica_same_server")
        c2 = st.container()
        if not st.session_state["replica_same_server"] and not services_panel.replica_server_shown():
            paired(c2, "replica max_connections", "replica_max_connections", 10, 1000, 1)
        paired(c2, "replica pool_size", "replica_pool_size", 0, 100, 1)
        paired(c2, "replica max_overflow", "replica_max_overflow", -1, 100, 1)
        paired(c2, "requests using the replica (%)", "replica_share_percent", 1.0, 100.0, 5.0,
               help="Share of requests that check out a replica connection: its pool is sized for that share")
with sb.expander("PgBouncer", expanded=bool(st.session_state["pgbouncer"]) or services_panel.has_pgbouncer()):
    st.toggle("Primary engine goes through PgBouncer", key="pgbouncer",
              help="The server then holds PgBouncer's default_pool_size connections; each application connection "
                   "is a PgBouncer client")
    if st.session_state["pgbouncer"] or services_panel.has_pgbouncer():
        st.selectbox("PgBouncer version", state.PGBOUNCER_VERSIONS, key="pgbouncer_version",
                     help="Prepared statements work through transaction mode from 1.21 with max_prepared_statements "
                          "> 0 (the default from 1.24)")
        st.segmented_control("pool_mode", state.PGBOUNCER_POOL_MODES, key="pgbouncer_pool_mode", required=True,
                             help="session: each client holds a server connection until it disconnects")
        c = st.container()
        paired(c, "default_pool_size", "pgbouncer_default_pool_size", 1, 500, 1)
        paired(c, "max_client_conn", "pgbouncer_max_client_conn", 1, 10000, 10)
        paired(c, "max_prepared_statements (-1 = version default)", "pgbouncer_max_prepared_statements", -1, 1000, 10)
with sb.expander("Workload (peak, whole fleet)", expanded=True):
    c = st.container()
    if services_panel.workload_control():  # several services: a cron job or a worker may take none
        paired(c, "requests per second", "rps", 0.0, 5000.0, 10.0)
        paired(c, "hold per request (ms)", "hold_ms", 0.0, 1000.0, 1.0,
               help="Checkout to check-in, mean: the statements plus the pool's own reset (and pre-ping), "
                    "not the query alone")
        c.segmented_control("hold time varies", ["exp", "const"], key="hold_dist", required=True,
                            help="exp: as variable as an exponential (a safe default); const: every request holds "
                                 "about the same time")
        paired(c, "request timeout (s, 0 = none)", "request_timeout_s", 0.0, 120.0, 1.0)
        paired(c, "target p99 wait (ms)", "target_p99_wait_ms", 1.0, 200.0, 1.0,
               help="The recommendation picks the smallest pool whose predicted p99 wait for a connection is "
                    "within this")

st.title("Connection-pool planner")
if demo is not None:
    st.caption("**Demo mode**: the charts show a real embedded PostgreSQL and real worker processes "
               f"(scenario: *{demo.scenario}*), not your database.")

plan = view = error = judged = None
app_name = demo.plan.engines[0].application_name if demo else None
try:
    # the monitor's URL is not the application's; the demo's application name lets the per-app rules fire.
    # Several services: the editor keeps each one's own fields; one: a loaded plan file keeps whatever the
    # sidebar cannot show (planfile.current_plan)
    inputs = state.inputs_from(st.session_state)
    plan = (state.plan_from_inputs(inputs, application_name=app_name) if services_panel.editing() else
            planfile.current_plan(inputs, plan_panel.loaded_plan(), application_name=app_name))
    if st.session_state.get("live_limits"):  # each server's own live limits, those the sidebar does not show too
        plan = with_own_live_limits(plan, {name: snap.settings for name, snap in latest.items()},
                                    sidebar_servers(plan_panel.loaded_plan(), bool(st.session_state.get("replica"))))
    judged = rerun.judge(plan) if limits_known else None  # findings and recommendation: once per rerun
    view = judged.view if judged else None
except InputError as err:
    error = err
plan_panel.download_section(plan_box, plan, application_name=app_name, waiting=not limits_known)

if services_panel.editing():
    services_panel.overview(plan)

# One container for either the waiting notice or the verdict: the live panel below starts at the same place in
# both, so its refreshes never write over the verdict when the first sample turns one into the other.
with st.container():
    if not limits_known:
        waiting = pagestate.waiting_for(state.PRIMARY, monitor.status().get(state.PRIMARY))
        st.info(waiting.message, icon=":material/hourglass_top:")
        if waiting.problem:
            st.warning(waiting.problem)
    elif error is not None:
        st.error(md(state.inline_error(error)), icon="⛔")
    else:
        VERDICT_BOX[view.verdict](view.verdict_line)
        cols = st.columns(6)
        for col, (label, value) in zip(cols, state.headline_metrics(view), strict=True):
            col.metric(label, value, help=state.METRIC_HELP.get(label))
        st.caption(view.arithmetic)
        rec = judged.recommendation
        if rec is None:
            st.info(f"No recommendation for these inputs: {md(judged.recommendation_error)}")
        else:
            with st.expander(f"Recommended: {state.recommendation_summary(rec)}", icon=":material/tune:"):
                for line in (*rec.reasons, *rec.why):
                    st.markdown(f"- {line}")
                if rec.fits:
                    st.button("Apply these settings", key="apply_recommendation", on_click=apply_recommendation,
                              args=(rec,))
                for alternative in rec.alternatives:
                    st.button(f"Apply: {alternative.summary}", key=f"apply_{alternative.change}",
                              on_click=apply_alternative, args=(alternative,))
        st.subheader("Connection budget")
        st.plotly_chart(charts.budget_figure(view.plan, view.budgets, view.bouncer), width="stretch",
                        key="budget_chart")


def pitfalls_section(plan, static_findings, servers: list[str], now: datetime, waiting: bool) -> None:
    """The plan's findings (computed once per rerun) and the live rules' over the recent samples, grouped."""
    st.subheader("Pitfalls")
    rows = state.finding_rows(static_findings, state.live_findings_for(plan, monitor, servers, now=now))
    if not rows and waiting:
        st.caption("No pitfall to report before the server's first sample.")
    elif not rows:
        st.success("No pitfall found in the plan or in the recent samples.")
    for group in pitfalls.group_rows(rows):  # one entry per id and server; server-sent names escaped
        with st.expander(group.label, expanded=group.severity == "critical", icon=SEVERITY_ICON[group.severity]):
            for f in group.findings:
                st.markdown(f"**Evidence:** {md(f.message)}")
            for fix in group.fixes:
                st.markdown(f"**Fix:** {md(fix)}")
            for snippet in group.snippets:
                st.code(snippet, language=state.snippet_language(snippet))


@st.fragment(run_every=LIVE_REFRESH_S)
def live_panel(plan, static_findings, waiting: bool) -> None:
    if waiting and getattr(monitor.latest().get(state.PRIMARY), "settings", None) is not None:
        st.rerun(scope="app")  # the first sample: the whole page applies the server's limits, no click needed
    st.subheader("Live connections")
    store_notice = pagestate.store_notice(get_history(history_key(target_key)) if demo is None else None, monitor)
    if store_notice:
        st.warning(store_notice, icon=":material/database:")
    left, right = st.columns([2, 3])
    # a link may have set them (plan_panel.start_session): then no default, which Streamlit would warn about
    left.segmented_control("Time range", list(state.TIME_RANGES), key="time_range",
                           default=None if "time_range" in st.session_state else "15 min")
    right.segmented_control("Split by", ["state", "application_name"], key="split_by",
                            default=None if "split_by" in st.session_state else "state")
    now = datetime.now(UTC)
    servers = list(targets)
    by = st.session_state.get("split_by") or "state"
    pick = overview(plan, servers, now)
    if pick not in (fleet.ALL_SERVERS, *servers):
        fleet_page.not_sampled(pick)
    for server in fleet.shown_servers(pick, servers):
        timeline = get_timeline(target_key, demo is not None, server)
        view_ = state.live_view(monitor, timeline, server, plan, st.session_state.get("time_range") or "15 min",
                                by, now=now)
        st.markdown(view_.headline)
        if view_.error:
            st.warning(md(view_.error))
        fig = charts.wide_figure(view_.wide, by, view_.lines, title=server if len(servers) > 1 else "",
                                 gaps=view_.gaps, service_lines=view_.service_lines)
        incident_page.annotate_live_chart(fig, monitor, server, state.history_since(
            st.session_state.get("time_range") or "15 min", now))
        st.plotly_chart(fig, width="stretch", key=f"live_chart_{server}")
        if view_.table is not None and len(view_.table):
            st.dataframe(view_.table, hide_index=True, width="stretch", key=f"live_table_{server}")

    pgbouncer_page.render(monitor, plan, now)
    probe_panel.section(demo, monitor, plan, servers[0])  # the in-app probes next to the server's view
    observe_panel.section(demo, monitor, servers[0], use_measured_workload)  # the what-if starts from reality

    pitfalls_section(plan, static_findings, servers, now, waiting)
    incident_page.render(monitor, monitor.targets, allow=actions_enabled(secrets=st.secrets))
    plan_panel.sync_link()  # the picked server, time range and split, as the link says them


def overview(plan, servers: list[str], now: datetime) -> str:
    """Every server of the plan and of the sampling, in one table; returns the picked one."""
    def window(server: str):
        return get_timeline(target_key, demo is not None, server).window_with_gaps("state", fleet.since(now))

    rows = fleet.fleet_rows(plan_budgets(plan) if plan is not None else (), monitor.latest(), servers, window)
    return fleet_page.section(rows)


live_panel(plan if limits_known else None, view.findings if view else (), not limits_known)

if view is not None:
    st.subheader("Predicted wait for a connection")
    wait_plan = services_panel.selected_plan(view.plan)  # several services: the selected one's
    engine = wait_plan.engines[0]
    if wait_plan is not view.plan:
        st.caption(f"Service {md(wait_plan.services[0].name)}, engine {md(engine.name)}")
    try:
        curve = cached_wait_curve(wait_plan, engine.name)
    except InputError as err:
        curve, wait_error = None, err
    if curve is None:
        st.info(f"No prediction for these inputs: {md(wait_error)}")
    elif curve.empty:
        st.info("No prediction: the pool is unbounded or the workload holds no connection.")
    else:
        st.plotly_chart(charts.wait_figure(curve, engine.pool_size, engine.pool_timeout,
                                           target_ms=wait_plan.workload.target_p99_wait_ms),
                        width="stretch", key="wait_chart")
        st.caption(state.wait_caption(wait_plan, curve, engine.name))

    st.subheader("Export")
    files = judged.exports
    tabs = st.tabs([f.title for f in files])
    for tab, f in zip(tabs, files, strict=True):
        with tab:
            st.code(f.text, language=f.language)
            st.download_button(f"Download {f.file_name}", f.text, file_name=f.file_name, mime=f.mime,
                               key=f"download_{f.format}", on_click="ignore")

plan_panel.sync_link()  # the page's state in its link: opening it shows this page
