"""``lungct models list | promote VERSION | rollback``: the MLflow registry of ``lungct-vgg16``.

Promotion gates (score on the same evaluation manifest, parity, sha256) and publishes to the
environment; rollback re-publishes the previous champion. mlflow is imported only when these run.
"""
from __future__ import annotations

import argparse

from lungct.cli.common import add_env


def register(sub: argparse._SubParsersAction) -> None:
    models = sub.add_parser("models", help="list, promote and roll back registered model versions (MLflow)")
    msub = models.add_subparsers(dest="models_command", required=True, metavar="COMMAND")
    ls = msub.add_parser("list", help="registered versions with their aliases, scores and parity")
    promote = msub.add_parser("promote", help="make VERSION the champion if it passes the gate, and publish it")
    promote.add_argument("version", help="registered model version number")
    promote.add_argument("--tolerance", type=float, default=None,
                         help="how far below the champion's macro-F1 still passes (default: 0.01)")
    promote.add_argument("--force", action="store_true",
                         help="skip the score comparison (parity and sha256 are still checked)")
    rollback = msub.add_parser("rollback", help="make the previous champion the champion again, and publish it")
    for p in (ls, promote, rollback):
        p.add_argument("--tracking-uri", default=None,
                       help="MLflow tracking URI (default: $MLFLOW_TRACKING_URI or sqlite under $LUNGCT_HOME)")
    for p in (promote, rollback):
        add_env(p)
    ls.set_defaults(func=cmd_list)
    promote.set_defaults(func=cmd_promote)
    rollback.set_defaults(func=cmd_rollback)


def cmd_list(args: argparse.Namespace) -> int:
    from training_job import registry

    rows = registry.list_versions(registry.client(args.tracking_uri))
    if not rows:
        print(f"no versions of {registry.REGISTERED_MODEL} registered yet")
        return 0
    print(f"{'version':>7}  {'aliases':<22} {registry.GATE_METRIC:>14}  {'eval manifest':<13} {'parity':<6} run")
    for r in rows:
        print(f"{r['version']:>7}  {','.join(r['aliases']) or '-':<22} {r[registry.GATE_METRIC] or '-':>14}  "
              f"{r['eval_manifest'] or '-':<13} {r['parity'] or '-':<6} {r['run_id']}")
    return 0


def cmd_promote(args: argparse.Namespace) -> int:
    from training_job import registry

    tolerance = registry.DEFAULT_TOLERANCE if args.tolerance is None else args.tolerance
    decision = registry.promote(registry.client(args.tracking_uri), args.version,
                                publisher=registry.aws_publisher(args.env), tolerance=tolerance, force=args.force)
    print(f"version {decision.challenger} is champion in {args.env}: {decision.reason}")
    return 0


def cmd_rollback(args: argparse.Namespace) -> int:
    from training_job import registry

    version = registry.rollback(registry.client(args.tracking_uri), publisher=registry.aws_publisher(args.env))
    print(f"version {version} is champion again in {args.env}")
    return 0
