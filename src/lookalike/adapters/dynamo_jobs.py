"""Job state and results in one DynamoDB table, expiring by DynamoDB's TTL (the AWS twin of ``sqlite_jobs``).

Layout (partition key ``pk``, a string; TTL on ``expires_at``, epoch seconds):

* ``job#<id>`` — the job: ``id``, ``key``, ``connection_id``, ``endpoint``, ``token_hash`` (of the
  resume token; absent on jobs made before there were tokens), ``state``, ``created_at``,
  ``updated_at``, ``attempts``, ``worker``, ``expires_at`` and, once finished, its result as JSON text
  in ``result`` (JSON rather than DynamoDB maps: numbers stay floats, no ``Decimal``) or, when that
  text is big, zlib-compressed in the binary attribute ``result_z``.  A job of several photos has its
  other uploads' keys in ``extra_keys``, a list of strings in their order (a list, not a string set:
  sets have no order and cannot be empty; the attribute is left out for one photo).
* ``key#<upload key>`` — ``job_id`` of the one job of that upload, one item per key of the job (its
  first and its extra ones).  Created in the same transaction as the job (at most six items, each
  distinct: a transaction may not touch one item twice), all on the condition that the item does not
  exist (or has expired), so two submissions sharing a key racing each other make one job: the other
  gets :class:`DuplicateJob`.  A secondary index on
  ``key`` could not refuse the second job (indexes are written after the fact and eventually consistent).

Finishing is one conditional ``UpdateItem`` of the job (``state`` not yet ``done``/``failed``), which
DynamoDB applies atomically: the first result is stored and every later attempt gets False.  The key
items' expiry is then moved along with the job's; should those writes be lost, ``by_key`` merely
stops finding the finished job a little early.

DynamoDB deletes expired items lazily (within a couple of days), so every read also checks
``expires_at`` itself: an expired job is invisible at once, as it is in SQLite.

API calls made: GetItem, UpdateItem and TransactWriteItems (of Puts: the job and a pointer per key).  IAM authorises a
transaction's parts as their single-item actions, so the IAM actions needed are ``dynamodb:GetItem``
(reading: ``get``, ``by_key``) plus ``dynamodb:PutItem`` and ``dynamodb:UpdateItem`` (writing);
``create_jobs_table`` (tests and emulators only) also uses CreateTable, DescribeTable and
UpdateTimeToLive.
"""

from __future__ import annotations

import json
import math
import random
import re
import time
import zlib
from collections.abc import Sequence
from typing import Any

from lookalike.service.ports import DuplicateJob, Job

#: The table's layout is this adapter's own: its partition key, and the attribute DynamoDB's TTL reads
#: (the deployment spec makes the table with these names).
PK = "pk"
TTL_ATTRIBUTE = "expires_at"
#: DynamoDB refuses items over 400 KB; results above this are compressed, and refused if still too big.
MAX_RESULT_BYTES = 350_000
_FINISHED = ("done", "failed")
_CONFLICT_RETRIES = 8
#: Placeholders for every attribute named in an expression (some, like ``state``, are reserved words).
_NAMES = {
    "#pk": PK,
    "#exp": TTL_ATTRIBUTE,
    "#state": "state",
    "#worker": "worker",
    "#attempts": "attempts",
    "#updated": "updated_at",
    "#conn": "connection_id",
    "#endpoint": "endpoint",
    "#result": "result",
    "#result_z": "result_z",
    "#job_id": "job_id",
    "#token": "token_hash",
}


class ResultTooLarge(ValueError):
    """A job result that does not fit in a DynamoDB item even compressed (nothing was stored)."""


def create_jobs_table(client: Any, name: str) -> None:
    """Create the jobs table as ``deploy/spec.py`` describes it (on demand, TTL on), for tests and emulators."""
    client.create_table(
        TableName=name,
        AttributeDefinitions=[{"AttributeName": PK, "AttributeType": "S"}],
        KeySchema=[{"AttributeName": PK, "KeyType": "HASH"}],
        BillingMode="PAY_PER_REQUEST",
    )
    client.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 60})
    client.update_time_to_live(
        TableName=name, TimeToLiveSpecification={"Enabled": True, "AttributeName": TTL_ATTRIBUTE}
    )


def _n(value: float) -> dict[str, str]:
    return {"N": repr(float(value)) if isinstance(value, float) else str(int(value))}


def _s(value: str) -> dict[str, str]:
    return {"S": value}


def _expiry(now: float, ttl: float) -> dict[str, str]:
    """Whole epoch seconds, as DynamoDB's TTL wants (rounded up: never earlier than asked)."""
    return _n(math.ceil(now + ttl))


def encode_result(result: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """(attribute name, value) holding ``result``; compressed when large, :class:`ResultTooLarge` if too large."""
    text = json.dumps(result, separators=(",", ":"), ensure_ascii=False).encode()
    if len(text) <= MAX_RESULT_BYTES:
        return "result", {"S": text.decode()}
    packed = zlib.compress(text, 9)
    if len(packed) <= MAX_RESULT_BYTES:
        return "result_z", {"B": packed}
    raise ResultTooLarge(
        f"job result is {len(text)} bytes ({len(packed)} compressed); a DynamoDB item holds at most "
        f"{MAX_RESULT_BYTES} bytes of result"
    )


def _decode_result(item: dict[str, Any]) -> dict[str, Any] | None:
    if "result" in item:
        return json.loads(item["result"]["S"])
    if "result_z" in item:
        return json.loads(zlib.decompress(item["result_z"]["B"]))
    return None


def _job(item: dict[str, Any]) -> Job:
    return Job(
        id=item["id"]["S"],
        key=item["key"]["S"],
        connection_id=item["connection_id"]["S"],
        state=item["state"]["S"],
        created_at=float(item["created_at"]["N"]),
        updated_at=float(item["updated_at"]["N"]),
        attempts=int(item.get("attempts", {"N": "0"})["N"]),
        worker=int(item["worker"]["N"]) if "worker" in item else None,
        result=_decode_result(item),
        endpoint=item.get("endpoint", {"S": ""})["S"],
        token_hash=item.get("token_hash", {"S": ""})["S"],
        extra_keys=[value["S"] for value in item.get("extra_keys", {"L": []})["L"]],
    )


def _reasons(exc: Exception) -> list[str]:
    """The per-item cancellation codes of a cancelled transaction (``None`` for items that were fine)."""
    response = getattr(exc, "response", {}) or {}
    return [str(r.get("Code", "None")) for r in response.get("CancellationReasons", [])]


class DynamoJobStore:
    """The :class:`~lookalike.service.ports.JobStore` port on a DynamoDB table (see the module docstring)."""

    def __init__(self, table_name: str, ttl_seconds: float = 3600, client: Any = None) -> None:
        if client is None:
            import boto3

            client = boto3.client("dynamodb")  # AWS_ENDPOINT_URL(_DYNAMODB) and AWS_REGION apply
        self.client = client
        self.table = table_name
        self.ttl = ttl_seconds

    # -- reading ----------------------------------------------------------------------------

    def _item(self, pk: str) -> dict[str, Any] | None:
        """The item, or None when absent or expired (DynamoDB's TTL deletes lazily)."""
        item = self.client.get_item(TableName=self.table, Key={PK: _s(pk)}, ConsistentRead=True).get("Item")
        if item is None or float(item[TTL_ATTRIBUTE]["N"]) < time.time():
            return None
        return item

    def get(self, job_id: str) -> Job | None:
        item = self._item(f"job#{job_id}")
        return None if item is None else _job(item)

    def by_key(self, key: str) -> Job | None:
        pointer = self._item(f"key#{key}")
        if pointer is None:
            return None
        job = self.get(pointer["job_id"]["S"])
        return job if job is not None and key in job.keys else None

    # -- writing ----------------------------------------------------------------------------

    def _update(
        self, job_id: str, expression: str, values: dict[str, Any], condition: str = ""
    ) -> dict[str, Any] | None:
        """A conditional UpdateItem of a live job; the new item, or None if the job is absent, expired or
        the ``condition`` failed."""
        live = "attribute_exists(#pk) AND #exp >= :now"
        condition = f"{live} AND ({condition})" if condition else live
        used = set(re.findall(r"#\w+", expression + condition))  # DynamoDB refuses unused names
        try:
            response = self.client.update_item(
                TableName=self.table,
                Key={PK: _s(f"job#{job_id}")},
                UpdateExpression=expression,
                ConditionExpression=condition,
                ExpressionAttributeNames={k: v for k, v in _NAMES.items() if k in used},
                ExpressionAttributeValues={":now": _n(time.time()), **values},
                ReturnValues="ALL_NEW",
            )
        except self.client.exceptions.ConditionalCheckFailedException:
            return None
        return response["Attributes"]

    def create(
        self,
        job_id: str,
        key: str,
        connection_id: str,
        endpoint: str = "",
        token_hash: str = "",
        extra_keys: Sequence[str] = (),
    ) -> Job:
        extra = list(extra_keys)
        if len({key, *extra}) < 1 + len(extra):
            raise ValueError("a job's keys must be distinct")  # the protocol refuses them; one transaction could not
        now = time.time()
        expires = _expiry(now, self.ttl)
        job_item: dict[str, Any] = {
            PK: _s(f"job#{job_id}"),
            "id": _s(job_id),
            "key": _s(key),
            "connection_id": _s(connection_id),
            "endpoint": _s(endpoint),
            "token_hash": _s(token_hash),
            "state": _s("queued"),
            "created_at": _n(now),
            "updated_at": _n(now),
            "attempts": _n(0),
            TTL_ATTRIBUTE: expires,
        }
        if extra:
            job_item["extra_keys"] = {"L": [_s(k) for k in extra]}
        key_items = [{PK: _s(f"key#{k}"), "job_id": _s(job_id), TTL_ATTRIBUTE: expires} for k in [key, *extra]]
        absent = {
            "ConditionExpression": "attribute_not_exists(#pk) OR #exp < :now",
            "ExpressionAttributeNames": {"#pk": PK, "#exp": TTL_ATTRIBUTE},
            "ExpressionAttributeValues": {":now": _n(now)},
        }
        for attempt in range(_CONFLICT_RETRIES):
            try:
                self.client.transact_write_items(
                    TransactItems=[
                        {"Put": {"TableName": self.table, "Item": item, **absent}} for item in [job_item, *key_items]
                    ]
                )
                break
            except self.client.exceptions.TransactionCanceledException as exc:
                if "ConditionalCheckFailed" in _reasons(exc):
                    raise DuplicateJob(key) from exc
                if attempt == _CONFLICT_RETRIES - 1:  # only conflicts with a racing transaction: try again
                    raise
                time.sleep(min(1.0, 0.05 * 2**attempt) * random.uniform(0.5, 1.5))  # jitter: racers part ways
        return Job(
            job_id, key, connection_id, "queued", now, now, endpoint=endpoint, token_hash=token_hash, extra_keys=extra
        )

    def start(self, job_id: str, worker: int) -> Job | None:
        item = self._update(
            job_id,
            "SET #state = :processing, #worker = :worker, #updated = :now ADD #attempts :one",
            {
                ":processing": _s("processing"),
                ":worker": _n(worker),
                ":one": _n(1),
                ":done": _s("done"),
                ":failed": _s("failed"),
            },
            "NOT #state IN (:done, :failed)",
        )
        return _job(item) if item is not None else self.get(job_id)

    def finish(self, job_id: str, state: str, result: dict[str, Any]) -> bool:
        name, value = encode_result(result)
        now = time.time()
        expires = _expiry(now, self.ttl)
        item = self._update(
            job_id,
            f"SET #state = :state, #{name} = :result, #updated = :now, #exp = :expires",
            {
                ":state": _s(state),
                ":result": value,
                ":expires": expires,
                ":done": _s("done"),
                ":failed": _s("failed"),
            },
            "NOT #state IN (:done, :failed)",
        )
        if item is None:
            return False
        for key in _job(item).keys:  # keep the keys' pointers for as long as the finished job (module docstring)
            try:
                self.client.update_item(
                    TableName=self.table,
                    Key={PK: _s(f"key#{key}")},
                    UpdateExpression="SET #exp = :expires",
                    ConditionExpression="#job_id = :id",
                    ExpressionAttributeNames={"#exp": TTL_ATTRIBUTE, "#job_id": "job_id"},
                    ExpressionAttributeValues={":expires": expires, ":id": _s(job_id)},
                )
            except self.client.exceptions.ConditionalCheckFailedException:
                pass  # the pointer is gone or names another job: nothing to extend
        return True

    def attach(self, job_id: str, connection_id: str, endpoint: str = "", token_hash: str | None = None) -> Job | None:
        values = {":conn": _s(connection_id), ":endpoint": _s(endpoint)}
        expression = "SET #conn = :conn, #endpoint = :endpoint"
        if token_hash is not None:
            expression += ", #token = :token"
            values[":token"] = _s(token_hash)
        item = self._update(job_id, expression, values)
        return None if item is None else _job(item)
