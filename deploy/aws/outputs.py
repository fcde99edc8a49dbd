"""Read the deployed stack's outputs, or empty its buckets before ``cdk destroy`` (``make deploy-aws`` /
``make destroy-aws``).  Uses the same AWS credentials and region as the CDK CLI.

    python deploy/aws/outputs.py [--stack Lookalike] PageUrl
    python deploy/aws/outputs.py [--stack Lookalike] --empty-buckets
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

#: Buckets CloudFormation cannot delete while they hold objects (the site bucket is emptied by its
#: deployment's own custom resource).
BUCKETS_TO_EMPTY = ("UploadsBucketName", "GalleryBucketName")


def stack_outputs(stack: str, cloudformation: Any = None) -> dict[str, str]:
    if cloudformation is None:
        import boto3

        cloudformation = boto3.client("cloudformation")
    (description,) = cloudformation.describe_stacks(StackName=stack)["Stacks"]
    return {o["OutputKey"]: o["OutputValue"] for o in description.get("Outputs", [])}


def empty_bucket(bucket: str, s3: Any = None) -> int:
    """Delete every object (and every version, should versioning ever be on); returns how many."""
    if s3 is None:
        import boto3

        s3 = boto3.client("s3")
    deleted = 0
    while True:  # the first page again until none is left: deleting while paginating can skip keys
        page = s3.list_object_versions(Bucket=bucket, MaxKeys=1000)
        keys = [
            {"Key": v["Key"], "VersionId": v["VersionId"]}
            for v in page.get("Versions", []) + page.get("DeleteMarkers", [])
        ]
        if not keys:
            break
        errors = s3.delete_objects(Bucket=bucket, Delete={"Objects": keys, "Quiet": True}).get("Errors", [])
        if errors:  # e.g. no permission: stop rather than list the same keys again forever
            raise RuntimeError(f"could not delete {len(errors)} objects from s3://{bucket}: {errors[0]}")
        deleted += len(keys)
    return deleted


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stack", default="Lookalike")
    parser.add_argument("--empty-buckets", action="store_true", help="delete every object in the stack's buckets")
    parser.add_argument("output", nargs="?", help="print this output's value")
    args = parser.parse_args(argv)
    try:
        outputs = stack_outputs(args.stack)
    except Exception as exc:  # no such stack, no credentials: say so in one line
        print(f"could not read stack {args.stack}: {exc}", file=sys.stderr)
        return 1
    if args.empty_buckets:
        for name in BUCKETS_TO_EMPTY:
            if name in outputs:
                print(f"emptied s3://{outputs[name]} ({empty_bucket(outputs[name])} objects)", file=sys.stderr)
        return 0
    if args.output not in outputs:
        known = ", ".join(sorted(outputs))
        print(f"stack {args.stack} has no output {args.output!r} (it has {known})", file=sys.stderr)
        return 1
    print(outputs[args.output])
    return 0


if __name__ == "__main__":
    sys.exit(main())
