"""Create the deployment's resources through the AWS APIs directly, from ``spec.DEPLOYMENT``.

CloudFormation (the CDK app in ``deploy/aws``) is how the real AWS gets them; an AWS-compatible
emulator gets the same buckets, queues, table, IAM policies, Lambda functions and APIs from this
module, made from the same description (``spec.py``), so that the whole system — the same Lambda
handlers, ``lookalike worker`` processes, the page — runs and is tested where AWS cannot be reached.
Resources are named ``<prefix>-<logical name>``.
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lookalike.adapters.dynamo_jobs import create_jobs_table
from lookalike.adapters.sqs_queue import create_queue
from lookalike.aws.spec import (
    DEPLOYMENT,
    GALLERIES_PREFIX,
    LAMBDA_SOURCES,
    UPLOADS_PREFIX,
    Deployment,
    Queue,
    permissions,
    static_environment,
)

PACKAGE_ROOT = Path(__file__).resolve().parents[3]  # the directory holding ``lookalike/``


def lambda_package(root: Path = PACKAGE_ROOT) -> bytes:
    """The Lambda deployment zip: only ``LAMBDA_SOURCES`` (the same selection as the CDK asset)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for source in LAMBDA_SOURCES:
            path = root / source
            files = [path] if path.is_file() else sorted(p for p in path.rglob("*.py") if "__pycache__" not in p.parts)
            for file in files:
                archive.write(file, file.relative_to(root).as_posix())
    return buffer.getvalue()


@dataclass(frozen=True)
class ApiUrls:
    """How an API Gateway API is addressed.  On AWS: ``https://{id}.execute-api.{region}.amazonaws.com``;
    emulators serve every API under their one endpoint, e.g. ``{endpoint}/_aws/execute-api/{id}/{stage}``."""

    http: Callable[[str], str]  # api id -> base URL of an HTTP API's $default stage
    websocket: Callable[[str, str], str]  # (api id, stage) -> wss:// or ws:// URL for clients
    management: Callable[[str, str], str]  # (api id, stage) -> the @connections endpoint

    @classmethod
    def emulator(cls, endpoint: str) -> ApiUrls:
        """The ``/_aws/execute-api/`` paths that LocalStack-compatible emulators (ministack) serve."""
        base = endpoint.rstrip("/") + "/_aws/execute-api"
        ws = base.replace("http://", "ws://").replace("https://", "wss://")
        return cls(
            http=lambda api: f"{base}/{api}",
            websocket=lambda api, stage: f"{ws}/{api}/{stage}",
            management=lambda api, stage: f"{base}/{api}/{stage}",
        )


@dataclass
class Provisioned:
    """What was made, and the settings a process needs to use it."""

    prefix: str
    region: str
    account: str
    uploads_bucket: str
    gallery_bucket: str
    queue_url: str
    dead_letter_queue_url: str
    jobs_table: str
    http_api_id: str
    websocket_api_id: str
    http_url: str
    websocket_url: str
    management_endpoint: str
    functions: dict[str, str] = field(default_factory=dict)  # logical name -> function name
    worker_access_key: tuple[str, str] = ("", "")  # an IAM user holding exactly the worker's grants
    spec: Deployment = DEPLOYMENT  # what it was made from (its timeouts and limits reach the processes)

    def environment(self) -> dict[str, str]:
        """``LOOKALIKE_*`` for the Lambdas and workers (what the CDK stack sets on them)."""
        return {
            **static_environment(self.spec),
            "LOOKALIKE_UPLOADS_BUCKET": self.uploads_bucket,
            "LOOKALIKE_QUEUE_URL": self.queue_url,
            "LOOKALIKE_DEAD_LETTER_QUEUE_URL": self.dead_letter_queue_url,
            "LOOKALIKE_JOBS_TABLE": self.jobs_table,
            "LOOKALIKE_WEBSOCKET_ENDPOINT": self.management_endpoint,
            "LOOKALIKE_GALLERY_URI": f"s3://{self.gallery_bucket}/{GALLERIES_PREFIX}",
        }


def _arns(spec: Deployment, p: Provisioned, queue_arns: dict[str, str], table_arn: str) -> dict[str, str]:
    return {
        "uploads_objects": f"arn:aws:s3:::{p.uploads_bucket}/{UPLOADS_PREFIX}*",
        "gallery_objects": f"arn:aws:s3:::{p.gallery_bucket}/{GALLERIES_PREFIX}*",
        "gallery_bucket": f"arn:aws:s3:::{p.gallery_bucket}",
        "table": table_arn,
        "jobs_queue": queue_arns["jobs"],
        "dead_letters": queue_arns["dead"],
        "connections": (
            f"arn:aws:execute-api:{p.region}:{p.account}:{p.websocket_api_id}/{spec.websocket_stage}/POST/@connections/*"
        ),
    }


def policy_document(grants: tuple[str, ...], arns: dict[str, str]) -> dict[str, Any]:
    """The IAM policy of these capabilities, as the CDK app writes it (``spec.CAPABILITIES``)."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": p.sid, "Effect": "Allow", "Action": sorted(p.actions), "Resource": arns[p.resource]}
            for p in permissions(grants)
        ],
    }


def provision(
    clients: Callable[[str], Any],
    prefix: str,
    urls: ApiUrls,
    *,
    spec: Deployment = DEPLOYMENT,
    page_origin: str = "*",
    code: bytes | None = None,
    lambda_environment: dict[str, str] | None = None,
) -> Provisioned:
    """Make every resource of ``spec`` with ``clients(service)`` (boto3 clients of an admin identity).

    ``lambda_environment`` is added to the functions' settings (e.g. boto3's endpoint variables).
    """
    s3, sqs, dynamodb, iam, lam, apigw = (
        clients(s) for s in ("s3", "sqs", "dynamodb", "iam", "lambda", "apigatewayv2")
    )
    region = s3.meta.region_name
    account = clients("sts").get_caller_identity()["Account"]
    uploads, gallery = make_buckets(s3, prefix, spec, page_origin)
    queues = make_queues(sqs, prefix, spec)
    table, table_arn = make_table(dynamodb, prefix, spec)
    # The APIs first: functions need the WebSocket API's management endpoint in their settings.
    http_api, ws_api = make_apis(apigw, prefix, spec)
    out = Provisioned(
        prefix=prefix,
        region=region,
        account=account,
        uploads_bucket=uploads,
        gallery_bucket=gallery,
        queue_url=queues["jobs"][0],
        dead_letter_queue_url=queues["dead"][0],
        jobs_table=table,
        http_api_id=http_api,
        websocket_api_id=ws_api,
        http_url=urls.http(http_api),
        websocket_url=urls.websocket(ws_api, spec.websocket_stage),
        management_endpoint=urls.management(ws_api, spec.websocket_stage),
        spec=spec,
    )
    arns = _arns(spec, out, {name: arn for name, (_, arn) in queues.items()}, table_arn)
    environment = {**out.environment(), **(lambda_environment or {}), "LOOKALIKE_HOME": "/tmp/lookalike"}
    package = code if code is not None else lambda_package()
    function_arns = make_functions(iam, lam, out, arns, environment, package)
    make_routes(apigw, lam, out, function_arns)
    out.worker_access_key = make_worker_identity(iam, prefix, spec, arns)
    return out


def make_buckets(s3: Any, prefix: str, spec: Deployment, page_origin: str) -> tuple[str, str]:
    """Private buckets (uploads, gallery); browsers POST uploads from the page's origin only."""
    uploads, gallery = f"{prefix}-uploads", f"{prefix}-gallery"
    for bucket in (uploads, gallery):
        s3.create_bucket(Bucket=bucket)
        s3.put_public_access_block(
            Bucket=bucket,
            PublicAccessBlockConfiguration={
                "BlockPublicAcls": True,
                "IgnorePublicAcls": True,
                "BlockPublicPolicy": True,
                "RestrictPublicBuckets": True,
            },
        )
    s3.put_bucket_cors(
        Bucket=uploads,
        CORSConfiguration={
            "CORSRules": [{"AllowedMethods": ["POST"], "AllowedOrigins": [page_origin], "MaxAgeSeconds": 3000}]
        },
    )
    s3.put_bucket_lifecycle_configuration(
        Bucket=uploads,
        LifecycleConfiguration={
            "Rules": [
                {
                    "ID": "stray-uploads",
                    "Status": "Enabled",
                    "Filter": {"Prefix": UPLOADS_PREFIX},
                    "Expiration": {"Days": spec.uploads_expire_days},
                }
            ]
        },
    )
    return uploads, gallery


def make_queues(sqs: Any, prefix: str, spec: Deployment) -> dict[str, tuple[str, str]]:
    """The jobs queue and its dead letters, as the CDK stack makes them: ``{"jobs"|"dead": (url, arn)}``."""

    def make(queue: Queue, dead_letter_arn: str | None = None) -> tuple[str, str]:
        return create_queue(
            sqs,
            f"{prefix}-{queue.name}",
            visibility_timeout=queue.visibility_timeout_seconds,
            retention_seconds=queue.retention_seconds,
            receive_wait_seconds=queue.receive_wait_seconds,
            dead_letter_arn=dead_letter_arn,
            max_receives=queue.max_receives,
        )

    dead = make(spec.dead_letters)
    return {"dead": dead, "jobs": make(spec.jobs_queue, dead_letter_arn=dead[1])}


def make_table(dynamodb: Any, prefix: str, spec: Deployment) -> tuple[str, str]:
    """The job table (its keys are the job store's own); returns its name and ARN."""
    table = f"{prefix}-{spec.jobs_table.name}"
    create_jobs_table(dynamodb, table)
    return table, str(dynamodb.describe_table(TableName=table)["Table"]["TableArn"])


def make_apis(apigw: Any, prefix: str, spec: Deployment) -> tuple[str, str]:
    """The HTTP and WebSocket APIs, with no routes yet; returns their ids."""
    http_api = apigw.create_api(Name=f"{prefix}-http", ProtocolType="HTTP")["ApiId"]
    ws_api = apigw.create_api(
        Name=f"{prefix}-websocket",
        ProtocolType="WEBSOCKET",
        RouteSelectionExpression=spec.websocket_route_selection,
    )["ApiId"]
    return http_api, ws_api


LAMBDA_TRUST = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}],
}


def make_functions(
    iam: Any, lam: Any, out: Provisioned, arns: dict[str, str], environment: dict[str, str], package: bytes
) -> dict[str, str]:
    """Each function of the spec, with a role holding exactly its grants (made before the function: see
    the emulator's notes); records the names in ``out.functions`` and returns logical name -> ARN."""
    function_arns: dict[str, str] = {}
    for fn in out.spec.functions:
        name = f"{out.prefix}-{fn.name}"
        role = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(LAMBDA_TRUST))["Role"]["Arn"]
        iam.put_role_policy(
            RoleName=name, PolicyName="grants", PolicyDocument=json.dumps(policy_document(fn.grants, arns))
        )
        function_arns[fn.name] = lam.create_function(
            FunctionName=name,
            Runtime="python3.12",
            Role=role,
            Handler=fn.handler,
            Code={"ZipFile": package},
            Timeout=fn.timeout_seconds,
            MemorySize=fn.memory_mb,
            Environment={"Variables": environment},
        )["FunctionArn"]
        out.functions[fn.name] = name
    return function_arns


def make_routes(apigw: Any, lam: Any, out: Provisioned, function_arns: dict[str, str]) -> None:
    """The APIs' routes, each to its function through one proxy integration per (API, function), and
    their auto-deployed stages."""
    spec = out.spec

    def integrate(api: str, function: str, payload: str | None) -> str:
        options: dict[str, Any] = {"IntegrationType": "AWS_PROXY", "IntegrationUri": function_arns[function]}
        if payload:
            options["PayloadFormatVersion"] = payload
        integration = apigw.create_integration(ApiId=api, **options)["IntegrationId"]
        lam.add_permission(
            FunctionName=function_arns[function],
            StatementId=f"{api}-{integration}",
            Action="lambda:InvokeFunction",
            Principal="apigateway.amazonaws.com",
            SourceArn=f"arn:aws:execute-api:{out.region}:{out.account}:{api}/*",
        )
        return f"integrations/{integration}"

    targets: dict[str, str] = {}
    for method, path, function in spec.http_routes:
        if function not in targets:
            targets[function] = integrate(out.http_api_id, function, "2.0")
        apigw.create_route(ApiId=out.http_api_id, RouteKey=f"{method} {path}", Target=targets[function])
    apigw.create_stage(ApiId=out.http_api_id, StageName="$default", AutoDeploy=True)
    ws_target = integrate(out.websocket_api_id, "websocket", None)
    for route in spec.websocket_routes:
        apigw.create_route(ApiId=out.websocket_api_id, RouteKey=route, Target=ws_target)
    apigw.create_stage(ApiId=out.websocket_api_id, StageName=spec.websocket_stage, AutoDeploy=True)


def make_worker_identity(iam: Any, prefix: str, spec: Deployment, arns: dict[str, str]) -> tuple[str, str]:
    """The workers' identity: an IAM user with exactly the worker's grants (on ECS the task gets a role);
    returns its access key and secret."""
    worker = f"{prefix}-worker"
    iam.create_user(UserName=worker)
    iam.put_user_policy(
        UserName=worker, PolicyName="grants", PolicyDocument=json.dumps(policy_document(spec.worker.grants, arns))
    )
    key = iam.create_access_key(UserName=worker)["AccessKey"]
    return key["AccessKeyId"], key["SecretAccessKey"]
