"""``recommend``: pool settings that fit the rollout peak with a margin and meet the workload."""

from __future__ import annotations

import argparse

from planner.commands._shared import add_json_flag, dumps, render_result, result_data
from planner.commands.plan_args import add_plan_arguments, plan_from_args
from planner.rules import static_findings
from planner.sizing import SIZING_MODELS, Recommendation, recommend_for_plan
from planner.sizing.shared import cut_text

HELP = ("recommend pool_size, max_overflow, pool_timeout and pool_recycle that fit the rollout peak with a margin "
        "(the plan's own pool flags are ignored)")
EXIT_CODES = ("exit codes: 0 a recommendation fits; 1 nothing fits as deployed (the smallest changes that would are "
              "listed); 2 bad input; 3 internal error")
EXAMPLE = "python -m planner recommend --max-connections 100 --instances 3 --workers 4 --rps 600 --hold-ms 20"


def configure(parser: argparse.ArgumentParser) -> None:
    add_plan_arguments(parser)
    add_json_flag(parser)
    parser.add_argument("--margin", type=float, default=0.10, metavar="F",
                        help="share of usable slots kept spare at rollout peak (0.10 = safe)")
    parser.add_argument("--sizing-model", choices=SIZING_MODELS, default="queueing",
                        help="queueing (default): the smallest pool meeting --target-p99-wait for the hold "
                             "distribution; littles-law: busy connections x 1.5")


def run(args: argparse.Namespace) -> int:
    plan = plan_from_args(args)
    rec = recommend_for_plan(plan, margin=args.margin, model=args.sizing_model)
    if args.json:
        data = rec.as_dict()
        if rec.plan is not None:
            data.update(result_data(rec.plan, static_findings(rec.plan)))
        print(dumps(data))
    else:
        print(render(rec))
    return 0 if rec.fits else 1


def _engine_lines(engines, indent: str = "") -> list[str]:
    return [f"{indent}{e.name}: pool_size={e.pool_size}, max_overflow={e.max_overflow}, "
            f"pool_timeout={e.pool_timeout:g}, pool_recycle={e.pool_recycle:g}, pool_pre_ping=True" for e in engines]


def _service_lines(rec: Recommendation) -> list[str]:
    """Per service: its engines as sized together; per shared server: how it was split."""
    lines = []
    for split in rec.splits:
        parts = ", ".join(f"{p.service} {p.given} ({p.per_process} per process)" for p in split.parts)
        lines.append(f"{split.server} ({split.rule}): {parts}"
                     + (f" + {split.pgbouncer} PgBouncer" if split.pgbouncer else "")
                     + f" = rollout peak {split.rollout_peak} of {split.allowed} allowed")
    for service in rec.services:
        lines.append(f"{service.service} ({service.workers} workers, weight {service.weight:.3g} by "
                     f"{service.weighed_by}):")
        lines += _engine_lines(service.engines, "  ")
    return lines


def render(rec: Recommendation) -> str:
    lines = [*rec.reasons]
    if rec.fits and rec.plan is not None:
        lines.append("")
        lines += _service_lines(rec) if rec.services else _engine_lines(rec.engines)
        lines += ["", render_result(rec.plan, static_findings(rec.plan)), "",
                  "paste it: python -m planner export --recommended --format python (same flags)"]
        return "\n".join(lines)
    lines += ["", "nothing fits:", *(f"  {w}" for w in rec.why)]
    if rec.cuts:
        lines.append("services to cut:")
        lines += [f"  {cut_text(c)}" for c in rec.cuts]
    if rec.alternatives:
        lines.append("smallest changes that fit:")
        lines += [f"  {a.change}: {a.summary}" for a in rec.alternatives]
    else:
        lines.append("no single change found that fits")
    return "\n".join(lines)
