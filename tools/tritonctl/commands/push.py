"""tritonctl push: publish a model repository to a directory, S3, GCS or Azure, safely for a polling Triton."""

from __future__ import annotations

HELP = "publish a model repository to a directory (NFS, PVC) or s3://, gs://, as:// for Triton to load"


def add_arguments(p) -> None:
    p.add_argument("repository", nargs="?", default="model_repository", help="local model repository (default: %(default)s)")
    p.add_argument(
        "dest",
        help="where Triton reads it: DIR, s3://BUCKET/PATH, s3://HOST:PORT/BUCKET/PATH (S3-compatible, Triton's form), "
        "gs://BUCKET/PATH or as://ACCOUNT/CONTAINER/PATH",
    )
    p.add_argument("--endpoint-url", metavar="URL", help="S3-compatible endpoint, e.g. http://minio:9000 (or use s3://HOST:PORT/...)")
    p.add_argument(
        "--profile", metavar="NAME",
        help="AWS named profile (~/.aws/config). Credentials come only from the environment, the clouds' "
        "standard chains (IRSA, instance roles, Workload Identity, ADC) or this profile; never from flags",
    )
    p.add_argument("-n", "--dry-run", action="store_true", help="print the plan, change nothing")
    p.add_argument(
        "--prune", action="store_true",
        help="delete versions an earlier push retired (their successor has been live since) and models no longer "
        "in the repository; versions retired by this push stay until a later push --prune",
    )
    p.add_argument(
        "--adopt", action="store_true",
        help="DEST already holds a model repository uploaded by hand (aws s3 sync, gsutil rsync, azcopy) and no "
        "tritonctl-push.json: hash what is there into that manifest, then upload only what differs (a version that "
        "differs from the local one is refused, as in any push). Without it such a DEST is refused",
    )
    p.add_argument("--no-check", action="store_true", help="skip `tritonctl check` of the repository before pushing")


def run(args) -> int:
    import logging
    import sys
    from pathlib import Path

    from tritonctl import push as push_mod
    from tritonctl.errors import CheckError
    from tritonctl.storage.location import parse

    loc = parse(args.dest, endpoint_url=args.endpoint_url, profile=args.profile)
    if not args.no_check:
        from tritonctl.check import check_repository

        report = check_repository(Path(args.repository))
        if report.errors:
            raise CheckError(
                f"{args.repository} has {len(report.errors)} error(s) Triton would refuse; nothing was pushed:\n"
                + "\n".join(str(f) for f in report.errors)
            )
    quiet = args.quiet or logging.getLogger().level > logging.INFO
    progress = (lambda msg: None) if quiet else (lambda msg: print(f"  {msg}", file=sys.stderr, flush=True))
    result = push_mod.push(args.repository, loc, prune=args.prune, dry_run=args.dry_run, progress=progress,
                           adopt=args.adopt)
    if args.dry_run:
        print(result.plan.to_text())
        print("dry run: nothing was changed")
        return 0
    if not result.plan.up_to_date:
        print(result.plan.to_text())
    print(result.to_text())
    return 0
