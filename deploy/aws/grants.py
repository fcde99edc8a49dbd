"""The capabilities named in ``spec.py`` (``Function.grants``, ``Worker.grants``) as exact IAM statements.

Each capability is a fixed set of actions on named resources: no action wildcards, no ``*`` resource
(the one place AWS needs ``*``, ECR's GetAuthorizationToken, is CDK's own in the task execution role).
A role gets the statements of its grants and nothing more, so a capability missing here fails the
synth instead of quietly widening a role.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sqs as sqs

#: Where browsers upload (the only keys the presigned POST, the worker and the lifecycle rule touch).
UPLOADS_PREFIX = "uploads/"
#: Where ``lookalike gallery push`` writes galleries; workers read nothing else of the gallery bucket.
GALLERIES_PREFIX = "galleries/"


@dataclass(frozen=True)
class Targets:
    """The resources capabilities point at."""

    uploads: s3.IBucket
    gallery: s3.IBucket
    jobs_queue: sqs.IQueue
    dead_letters: sqs.IQueue
    table: dynamodb.ITable
    connections_arn: str  # arn:...:execute-api:<region>:<account>:<wsApiId>/<stage>/POST/@connections/*


def _allow(actions: Iterable[str], resources: Iterable[str], sid: str) -> iam.PolicyStatement:
    return iam.PolicyStatement(sid=sid, effect=iam.Effect.ALLOW, actions=sorted(actions), resources=list(resources))


CAPABILITIES: dict[str, Callable[[Targets], list[iam.PolicyStatement]]] = {
    # The Lambda signs a presigned POST with its own credentials: the upload itself needs PutObject.
    "uploads:presign": lambda t: [
        _allow(["s3:PutObject"], [t.uploads.arn_for_objects(UPLOADS_PREFIX + "*")], "UploadsPresign")
    ],
    # HeadObject is authorised by s3:GetObject (there is no s3:HeadObject action).
    "uploads:head": lambda t: [
        _allow(["s3:GetObject"], [t.uploads.arn_for_objects(UPLOADS_PREFIX + "*")], "UploadsHead")
    ],
    "uploads:read": lambda t: [
        _allow(["s3:GetObject"], [t.uploads.arn_for_objects(UPLOADS_PREFIX + "*")], "UploadsRead")
    ],
    "uploads:delete": lambda t: [
        _allow(["s3:DeleteObject"], [t.uploads.arn_for_objects(UPLOADS_PREFIX + "*")], "UploadsDelete")
    ],
    # Listing is a bucket-level action; the bucket holds only galleries.
    "gallery:read": lambda t: [
        _allow(["s3:GetObject"], [t.gallery.arn_for_objects(GALLERIES_PREFIX + "*")], "GalleryRead"),
        _allow(["s3:ListBucket"], [t.gallery.bucket_arn], "GalleryList"),
    ],
    "jobs:read": lambda t: [_allow(["dynamodb:GetItem"], [t.table.table_arn], "JobsRead")],
    # What adapters/dynamo_jobs.py calls: GetItem, UpdateItem, and PutItem inside TransactWriteItems
    # (which has no IAM action of its own: each item is authorised by its Put/Update/Delete/ConditionCheck
    # action).  Expired jobs are removed by the table's TTL, not by the role.
    "jobs:write": lambda t: [
        _allow(["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"], [t.table.table_arn], "JobsWrite")
    ],
    "queue:send": lambda t: [_allow(["sqs:SendMessage"], [t.jobs_queue.queue_arn], "QueueSend")],
    "queue:consume": lambda t: [
        _allow(
            ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility", "sqs:GetQueueAttributes"],
            [t.jobs_queue.queue_arn],
            "QueueConsume",
        )
    ],
    "dead_letters:consume": lambda t: [
        _allow(
            ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"],
            [t.dead_letters.queue_arn],
            "DeadLettersConsume",
        )
    ],
    "connections:post": lambda t: [_allow(["execute-api:ManageConnections"], [t.connections_arn], "ConnectionsPost")],
}


def statements(grants: Iterable[str], targets: Targets) -> list[iam.PolicyStatement]:
    """The statements for these capabilities; an unknown name is an error, never a silent no-op."""
    out: list[iam.PolicyStatement] = []
    for name in grants:
        if name not in CAPABILITIES:
            raise ValueError(f"unknown capability {name!r} (known: {', '.join(sorted(CAPABILITIES))})")
        out.extend(CAPABILITIES[name](targets))
    return out
