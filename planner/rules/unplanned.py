"""``unplanned-clients``: connections no service of the plan names eat the headroom the plan left.

A plan with several services budgets each server as: every service's rollout peak + the server's
``other_clients`` allowance (psql, cron, monitoring) <= the slots ordinary roles may use. Live, the connections
are attributed to the services by application_name (``planner.attribution``); the rest are *unplanned*. The
finding fires on one sample of one server when both hold:

1. the unplanned connections exceed the allowance: ``unplanned > other_clients + unplanned_clients_slack``;
2. with them the services no longer fit: ``max(services' rollout peak, what they hold now) + unplanned + the
   monitor's own > slots x (1 - unplanned_clients_margin_fraction)``, where ``slots`` = the live server's
   max_connections - superuser_reserved - reserved.

Warning; critical when (2) holds even at the services' planned peak without a rollout. Both knobs live in the one
policy object (``planner.policy``). Plans of one service are not judged (their application connections are not
told apart from other clients: the plan's ``other_clients`` and ``too-many-connections`` cover them).
"""

from __future__ import annotations

import re

from planner import ids
from planner.attribution import IdentityCache, attribute, unplanned_words
from planner.budget import ServerBudget, server_budget
from planner.model import Finding, Plan, Server
from planner.policy import Thresholds
from planner.snapshot import ServerSettings, Snapshot

SUBJECT = "unplanned"
_TOML_NAME = re.compile(r"^[A-Za-z0-9_.\-]{1,63}$")


_BUDGETS = IdentityCache(64)


def _budget(plan: Plan, server: Server, th: Thresholds) -> ServerBudget:
    """The server's budget under the plan, kept per plan object (the rules judge every sample of a window with
    the same plan)."""
    return _BUDGETS.get((plan, server, th), lambda: server_budget(plan, server, th))


def _slots(settings: ServerSettings) -> tuple[int, str]:
    reserved = settings.reserved_connections or 0
    slots = settings.max_connections - settings.superuser_reserved_connections - reserved
    return slots, (f"max_connections {settings.max_connections} - superuser_reserved "
                   f"{settings.superuser_reserved_connections} - reserved {reserved}")


def unplanned_clients(plan: Plan | None, server: Server | None, snap: Snapshot, settings: ServerSettings,
                      th: Thresholds) -> Finding | None:
    """The finding for one sample of ``server``, or None (see the module's docstring for the definition)."""
    if plan is None or server is None or not plan.multi_service or not snap.ok:
        return None
    attribution = attribute(plan, snap)
    unplanned = attribution.unplanned_total
    allowance = server.other_clients
    if unplanned <= allowance + th.unplanned_clients_slack:
        return None
    budget = _budget(plan, server, th)
    if budget.rollout_peak is None or budget.peak is None:
        return None  # an unbounded pool: the static rules say so; nothing to project
    planned_now = attribution.planned_total
    slots, slot_words = _slots(settings)
    limit = slots * (1 - th.unplanned_clients_margin_fraction)
    extra = unplanned + snap.own_connections
    at_rollout = max(budget.rollout_peak, planned_now) + extra
    if at_rollout <= limit:
        return None
    severity = "critical" if max(budget.peak, planned_now) + extra > limit else "warning"
    margin = (f" x (1 - {th.unplanned_clients_margin_fraction:.0%}) = {limit:g}"
              if th.unplanned_clients_margin_fraction else "")
    message = (
        f"{snap.server}: {unplanned} connections from clients no service of the plan names "
        f"({unplanned_words(attribution.unplanned)}) > the plan's other_clients {allowance}"
        + (f" + {th.unplanned_clients_slack} slack" if th.unplanned_clients_slack else "")
        + f": the services' planned rollout peak {budget.rollout_peak} (they hold {planned_now} now) + {unplanned} "
        f"unplanned + {snap.own_connections} monitor = {at_rollout} > {slots} slots for ordinary roles "
        f"({slot_words}){margin}"
    )
    if severity == "critical":
        message += f"; even the planned peak without a rollout ({budget.peak}) does not fit beside them"
    return Finding(ids.UNPLANNED_CLIENTS, severity, message, _fix(extra), _snippet(snap.server, extra, attribution),
                   snap.server)


def _fix(needed: int) -> str:
    return ("Add each client that is yours to the plan as a service (a [[services]] entry whose engines set the "
            "application_name it connects with), so the budget counts its pools; or raise the server's "
            f"other_clients to at least {needed} (the unplanned clients and the monitor now) so the plan keeps room "
            "for them, then check the verdict again; or stop the clients that should not be there.")


def _snippet(server: str, needed: int, attribution) -> str:
    lines = ["[[servers]]", f'name = "{server}"', f"other_clients = {needed}   # unplanned clients + the monitor, now"]
    names = [name for name, _ in attribution.unplanned if _TOML_NAME.match(name)][:3]
    for name in names:
        lines += ["", "[[services]]   # or: plan it as a service", f'name = "{name}"']
    return "\n".join(lines)


__all__ = ["SUBJECT", "unplanned_clients"]
