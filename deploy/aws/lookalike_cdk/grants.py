"""The capabilities named in ``spec.py`` (``Function.grants``, ``Worker.grants``) as IAM statements.

``spec.CAPABILITIES`` says which exact actions each capability allows on which named resource; here
the names become this stack's ARNs.  No action wildcards, no ``*`` resource (the one place AWS needs
``*``, ECR's GetAuthorizationToken, is CDK's own, in the task execution role).  The emulator tests
build their IAM policies from the same table (``lookalike.bench.emulated_aws.provision``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sqs as sqs

from lookalike.aws.spec import GALLERIES_PREFIX, UPLOADS_PREFIX, permissions


@dataclass(frozen=True)
class Targets:
    """The resources capabilities point at."""

    uploads: s3.IBucket
    gallery: s3.IBucket
    jobs_queue: sqs.IQueue
    dead_letters: sqs.IQueue
    table: dynamodb.ITable
    connections_arn: str  # arn:...:execute-api:<region>:<account>:<wsApiId>/<stage>/POST/@connections/*

    def arns(self) -> dict[str, str]:
        """``Permission.resource`` names -> ARNs."""
        return {
            "uploads_objects": self.uploads.arn_for_objects(UPLOADS_PREFIX + "*"),
            "gallery_objects": self.gallery.arn_for_objects(GALLERIES_PREFIX + "*"),
            "gallery_bucket": self.gallery.bucket_arn,
            "table": self.table.table_arn,
            "jobs_queue": self.jobs_queue.queue_arn,
            "dead_letters": self.dead_letters.queue_arn,
            "connections": self.connections_arn,
        }


def statements(grants: Iterable[str], targets: Targets) -> list[iam.PolicyStatement]:
    """The statements for these capabilities; an unknown capability or resource name is an error."""
    arns = targets.arns()
    return [
        iam.PolicyStatement(sid=p.sid, effect=iam.Effect.ALLOW, actions=sorted(p.actions), resources=[arns[p.resource]])
        for p in permissions(tuple(grants))
    ]
