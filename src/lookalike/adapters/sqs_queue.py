"""The job queue on SQS, with a dead-letter queue through a redrive policy."""

from __future__ import annotations

import json
from typing import Any

from lookalike.service.ports import Message


def create_queue(
    client: Any,
    name: str,
    *,
    visibility_timeout: int | None = None,
    retention_seconds: int | None = None,
    receive_wait_seconds: int | None = None,
    dead_letter_arn: str | None = None,
    max_receives: int = 0,
) -> tuple[str, str]:
    """Create one queue; returns its URL and ARN.  An attribute left ``None`` keeps SQS's default; with
    ``dead_letter_arn``, a message moves there once it has been received ``max_receives`` times."""
    attributes: dict[str, str] = {}
    if visibility_timeout is not None:
        attributes["VisibilityTimeout"] = str(visibility_timeout)
    if retention_seconds is not None:
        attributes["MessageRetentionPeriod"] = str(retention_seconds)
    if receive_wait_seconds is not None:
        attributes["ReceiveMessageWaitTimeSeconds"] = str(receive_wait_seconds)
    if dead_letter_arn is not None:
        redrive = {"deadLetterTargetArn": dead_letter_arn, "maxReceiveCount": str(max_receives)}
        attributes["RedrivePolicy"] = json.dumps(redrive)
    url = client.create_queue(QueueName=name, **({"Attributes": attributes} if attributes else {}))["QueueUrl"]
    arn = client.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return str(url), str(arn)


def create_queues(client: Any, name: str, max_receives: int = 3, visibility_timeout: int = 60) -> tuple[str, str]:
    """Create ``name`` and ``name-dead`` (redrive after ``max_receives``); returns both URLs."""
    dead_url, dead_arn = create_queue(client, f"{name}-dead")
    url, _ = create_queue(
        client, name, visibility_timeout=visibility_timeout, dead_letter_arn=dead_arn, max_receives=max_receives
    )
    return url, dead_url


class SqsQueue:
    def __init__(
        self, queue_url: str, dead_letter_url: str | None = None, client: Any = None, endpoint_url: str | None = None
    ) -> None:
        if client is None:
            import boto3

            client = boto3.client("sqs", endpoint_url=endpoint_url)
        self.client = client
        self.url = queue_url
        self.dead_url = dead_letter_url

    def send(self, body: dict[str, Any]) -> str:
        return str(self.client.send_message(QueueUrl=self.url, MessageBody=json.dumps(body))["MessageId"])

    def receive(self, wait_seconds: float = 1.0) -> Message | None:
        response = self.client.receive_message(
            QueueUrl=self.url,
            MaxNumberOfMessages=1,
            WaitTimeSeconds=max(0, min(20, round(wait_seconds))),
            AttributeNames=["ApproximateReceiveCount"],
        )
        messages = response.get("Messages", [])
        if not messages:
            return None
        m = messages[0]
        count = int(m.get("Attributes", {}).get("ApproximateReceiveCount", "1"))
        return Message(json.loads(m["Body"]), m["ReceiptHandle"], count, m["MessageId"])

    def delete(self, receipt: str) -> None:
        self.client.delete_message(QueueUrl=self.url, ReceiptHandle=receipt)

    def extend(self, receipt: str, seconds: float) -> None:
        self.client.change_message_visibility(
            QueueUrl=self.url, ReceiptHandle=receipt, VisibilityTimeout=max(0, min(43_200, round(seconds)))
        )

    def release(self, receipt: str) -> None:
        self.client.change_message_visibility(QueueUrl=self.url, ReceiptHandle=receipt, VisibilityTimeout=0)

    def depth(self) -> int:
        attrs = self.client.get_queue_attributes(
            QueueUrl=self.url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return sum(int(v) for v in attrs.values())

    def take_dead_letters(self, limit: int = 10) -> list[dict[str, Any]]:
        if not self.dead_url:
            return []
        response = self.client.receive_message(
            QueueUrl=self.dead_url, MaxNumberOfMessages=max(1, min(limit, 10)), WaitTimeSeconds=0
        )
        bodies = []
        for m in response.get("Messages", []):
            bodies.append(json.loads(m["Body"]))
            self.client.delete_message(QueueUrl=self.dead_url, ReceiptHandle=m["ReceiptHandle"])
        return bodies
