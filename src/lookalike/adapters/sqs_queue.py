"""The job queue on SQS, with a dead-letter queue through a redrive policy."""

from __future__ import annotations

import json
from typing import Any

from lookalike.service.ports import Message


def create_queues(client: Any, name: str, max_receives: int = 3, visibility_timeout: int = 60) -> tuple[str, str]:
    """Create ``name`` and ``name-dead`` (redrive after ``max_receives``); returns both URLs."""
    dead_url = client.create_queue(QueueName=f"{name}-dead")["QueueUrl"]
    dead_arn = client.get_queue_attributes(QueueUrl=dead_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    url = client.create_queue(
        QueueName=name,
        Attributes={
            "VisibilityTimeout": str(visibility_timeout),
            "RedrivePolicy": json.dumps({"deadLetterTargetArn": dead_arn, "maxReceiveCount": str(max_receives)}),
        },
    )["QueueUrl"]
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
