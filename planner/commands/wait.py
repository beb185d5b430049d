"""``python -m planner wait``: predicted checkout wait of one worker's pool under a workload."""

from __future__ import annotations

import argparse
import json

from planner.cli_support import UsageError
from planner.queueing import (
    DEFAULT_CHECKOUT_OVERHEAD_MS,
    DEFAULT_CONNECT_MS,
    PRE_PING_OVERHEAD_MS,
    HoldTime,
    overload_finding,
    predict_wait,
)

HELP = "predict the checkout wait, pool_timeout errors and open connections of one worker process's pool"
EXAMPLE = "python -m planner wait --rps 120 --query-ms 25 --pool-size 5 --max-overflow 5 --pool-timeout 30 --json"
EXIT_CODES = "exit codes: 0 the pool keeps up; 1 overloaded (pool-overload); 2 bad input; 3 internal error"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--rps", type=float, required=True, metavar="R",
                        help="requests per second at ONE worker process (not the fleet)")
    hold = parser.add_mutually_exclusive_group(required=True)
    hold.add_argument("--hold-ms", type=float, metavar="MS", help="mean checkout-to-check-in time, as measured")
    hold.add_argument("--query-ms", type=float, metavar="MS",
                      help="mean time of the statements alone (the pool's overhead per checkout is added)")
    parser.add_argument(
        "--checkout-overhead-ms",
        type=float,
        help=f"the pool's own cost per checkout, added to --query-ms (default {DEFAULT_CHECKOUT_OVERHEAD_MS:g})",
    )
    parser.add_argument(
        "--pre-ping", action="store_true",
        help=f"the engine sets pool_pre_ping=True: add {PRE_PING_OVERHEAD_MS:g} ms per checkout to --query-ms",
    )
    parser.add_argument("--hold-dist", choices=("exp", "const"),
                        help="how the hold time varies: exp (default, as variable as an exponential) or const")
    parser.add_argument("--hold-p50", type=float, metavar="MS",
                        help="measured hold-time median; with --hold-p95 and --hold-p99 their ratios give the spread")
    parser.add_argument("--hold-p95", type=float, metavar="MS", help="measured hold-time 95th percentile")
    parser.add_argument("--hold-p99", type=float, metavar="MS", help="measured hold-time 99th percentile")
    parser.add_argument(
        "--connect-ms", type=float, default=DEFAULT_CONNECT_MS,
        help=f"time to open a new connection (default {DEFAULT_CONNECT_MS:g})",
    )
    parser.add_argument(
        "--handoff-ms", type=float, default=0.0,
        help="event-loop delay before a waiting task resumes with a checked-in connection (default 0; "
             "~0.3-1 ms on a busy loop, see docs/queueing.md)",
    )
    parser.add_argument("--pool-size", type=int, required=True, metavar="N", help="the engine's pool_size")
    parser.add_argument("--max-overflow", type=int, required=True, metavar="N", help="the engine's max_overflow")
    parser.add_argument("--pool-timeout", type=float, required=True, metavar="S",
                        help="the engine's pool_timeout in seconds (a checkout waiting longer fails)")
    parser.add_argument("--json", action="store_true", help="print the prediction as JSON")


def hold_from_args(args: argparse.Namespace) -> HoldTime:
    """The hold-time distribution the flags describe (query time plus the pool's overhead when --query-ms)."""
    percentiles = (args.hold_p50, args.hold_p95, args.hold_p99)
    if any(p is not None for p in percentiles):
        if any(p is None for p in percentiles):
            raise UsageError("wait: give all three of --hold-p50, --hold-p95 and --hold-p99")
        if args.hold_dist:
            raise UsageError("wait: --hold-dist and --hold-p50/95/99 are alternatives; give one")
    if args.hold_ms is not None and args.checkout_overhead_ms is not None:
        raise UsageError("wait: --checkout-overhead-ms goes with --query-ms (--hold-ms already includes it)")
    mean = args.hold_ms if args.hold_ms is not None else args.query_ms
    overhead = 0.0
    if args.hold_ms is not None and args.pre_ping:
        raise UsageError("wait: --pre-ping goes with --query-ms (--hold-ms already includes the ping)")
    if args.query_ms is not None:
        overhead = DEFAULT_CHECKOUT_OVERHEAD_MS if args.checkout_overhead_ms is None else args.checkout_overhead_ms
        overhead += PRE_PING_OVERHEAD_MS if args.pre_ping else 0.0
    if percentiles[0] is not None:
        return HoldTime.from_percentiles(mean, *percentiles, shift_ms=overhead)
    return HoldTime(mean, args.hold_dist or "exp", shift_ms=overhead)


def run(args: argparse.Namespace) -> int:
    hold = hold_from_args(args)
    prediction = predict_wait(args.rps, hold, args.pool_size, args.max_overflow, args.pool_timeout, args.connect_ms,
                              handoff_ms=args.handoff_ms)
    finding = overload_finding(
        args.rps, hold, args.pool_size, args.max_overflow, args.pool_timeout, args.connect_ms
    ) if prediction.utilisation >= 1 else None
    if args.json:
        print(json.dumps(prediction.as_dict(), indent=2))
    else:
        p = prediction
        print(f"hold: {hold.describe()} (mean {hold.mean:g} ms); offered load {p.offered:.2f} connections")
        print(f"utilisation   {p.utilisation:.3f} of {args.pool_size} + {args.max_overflow}")
        print(f"P(wait > 1ms) {p.p_wait:.3f}")
        print(f"wait ms       mean {p.wait_mean_ms:.1f}  p50 {p.wait_p50_ms:.1f}  p95 {p.wait_p95_ms:.1f}  "
              f"p99 {p.wait_p99_ms:.1f}")
        print(f"timeouts      {p.timeout_rate:.2%} of checkouts")
        print(f"open conns    mean {p.open_mean:.1f}  p99 {p.open_p99}"
              + (f"  ({p.connects_per_s:.1f} new connections/s)" if p.connects_per_s else ""))
        print(f"method        {p.method}")
        if finding:
            print(f"\n{finding.severity.upper()} {finding.id}: {finding.message}\n  fix: {finding.fix}")
    return 1 if finding else 0
