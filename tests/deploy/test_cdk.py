"""The CDK app (``deploy/aws``): synthesized in-process and checked property by property against the spec.

Expected IAM grants are written out here, independently of ``deploy/aws/grants.py``: a widened role,
a capability that lost an action, or a resource that drifted fails a test.  Nothing here needs AWS
credentials or the network; the last two tests run cfn-lint and the real ``cdk synth`` CLI.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

# jsii (the bridge to CDK's JavaScript) prints a banner on Node versions it no longer supports.
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "18,20")
os.environ.setdefault("JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION", "1")

cdk = pytest.importorskip("aws_cdk", reason="aws-cdk-lib is not installed (pip install -e '.[deploy]')")

from lookalike.aws.spec import DEPLOYMENT, ENVIRONMENT, LAMBDA_SOURCES, static_environment  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
APP_DIR = ROOT / "deploy" / "aws"
sys.path.insert(0, str(APP_DIR))

from lookalike_cdk.stack import LookalikeStack  # noqa: E402

STAGE = DEPLOYMENT.websocket_stage
UPLOAD_OBJECTS = "<UploadsBucket.Arn>/uploads/*"
TABLE = "<JobsTable.Arn>"
#: What each capability of the spec must grant, exactly: (action, resource) pairs.
EXPECTED_GRANTS: dict[str, set[tuple[str, str]]] = {
    "uploads:presign": {("s3:PutObject", UPLOAD_OBJECTS)},
    "uploads:head": {("s3:GetObject", UPLOAD_OBJECTS)},
    "uploads:read": {("s3:GetObject", UPLOAD_OBJECTS)},
    "uploads:delete": {("s3:DeleteObject", UPLOAD_OBJECTS)},
    "gallery:read": {("s3:GetObject", "<GalleryBucket.Arn>/galleries/*"), ("s3:ListBucket", "<GalleryBucket.Arn>")},
    "jobs:read": {("dynamodb:GetItem", TABLE)},
    "jobs:write": {(action, TABLE) for action in ("dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem")},
    "queue:send": {("sqs:SendMessage", "<JobsQueue.Arn>")},
    "queue:consume": {
        (action, "<JobsQueue.Arn>")
        for action in (
            "sqs:ReceiveMessage",
            "sqs:DeleteMessage",
            "sqs:ChangeMessageVisibility",
            "sqs:GetQueueAttributes",
        )
    },
    "dead_letters:consume": {
        (action, "<DeadLetterQueue.Arn>")
        for action in ("sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes")
    },
    "connections:post": {
        (
            "execute-api:ManageConnections",
            f"arn:<AWS::Partition>:execute-api:<AWS::Region>:<AWS::AccountId>:<WebSocketApi>/{STAGE}/POST/@connections/*",
        )
    },
}
WSS_URL = f"wss://<WebSocketApi>.execute-api.<AWS::Region>.<AWS::URLSuffix>/{STAGE}"
CALLBACK_URL = f"https://<WebSocketApi>.execute-api.<AWS::Region>.<AWS::URLSuffix>/{STAGE}"
#: The newest Python runtime AWS Lambda lists (docs: Lambda runtimes).
NEWEST_LAMBDA_PYTHON = "python3.14"
CACHING_DISABLED = "4135ea2d-6df8-44a3-9df3-4b5a84be39ad"  # CloudFront's managed policy ids
CACHING_OPTIMIZED = "658327ea-f89d-4fab-a63d-7e88639e58f6"


# -- synthesis, once per module ------------------------------------------------------------------------


def synthesize(outdir: Path, context: dict[str, str] | None = None) -> SimpleNamespace:
    app = cdk.App(outdir=str(outdir), context=context or {})
    stack = LookalikeStack(app, "Lookalike")
    assembly = app.synth()
    artifact = assembly.get_stack_by_name("Lookalike")
    template = artifact.template

    def logical(construct: Any) -> str:
        return str(stack.resolve(stack.get_logical_id(construct.node.default_child)))

    names = {
        logical(stack.uploads_bucket): "UploadsBucket",
        logical(stack.gallery_bucket): "GalleryBucket",
        logical(stack.site_bucket): "SiteBucket",
        logical(stack.jobs_queue): "JobsQueue",
        logical(stack.dead_letters): "DeadLetterQueue",
        logical(stack.table): "JobsTable",
        logical(stack.websocket_api): "WebSocketApi",
        logical(stack.http_api): "HttpApi",
        logical(stack.distribution): "Distribution",
    }
    return SimpleNamespace(
        stack=stack,
        template=template,
        assertions=cdk.assertions.Template.from_json(template),
        names=names,
        outdir=Path(artifact.assembly.directory),
        messages=artifact.messages,
    )


@pytest.fixture(scope="module")
def synth(tmp_path_factory: pytest.TempPathFactory) -> SimpleNamespace:
    return synthesize(tmp_path_factory.mktemp("cdk") / "out")


@pytest.fixture(scope="module")
def synth_with_context(tmp_path_factory: pytest.TempPathFactory) -> SimpleNamespace:
    context = {
        "allowed_origin": "https://photos.example.org",
        "alarm_email": "ops@example.org",
        "point_in_time_recovery": "true",
    }
    return synthesize(tmp_path_factory.mktemp("cdk-context") / "out", context)


# -- reading the template ------------------------------------------------------------------------------


def render(value: Any, names: dict[str, str]) -> Any:
    """CloudFormation intrinsics as readable text: ``{"Fn::GetAtt": [id, "Arn"]}`` -> ``<Name.Arn>``."""
    if isinstance(value, list):
        return [render(v, names) for v in value]
    if not isinstance(value, dict):
        return value
    if "Ref" in value:
        return f"<{names.get(value['Ref'], value['Ref'])}>"
    if "Fn::GetAtt" in value:
        target, attribute = value["Fn::GetAtt"]
        return f"<{names.get(target, target)}.{attribute}>"
    if "Fn::Join" in value:
        separator, parts = value["Fn::Join"]
        return separator.join(str(render(p, names)) for p in parts)
    if "Fn::Sub" in value:
        return value["Fn::Sub"]
    return {k: render(v, names) for k, v in value.items()}


def resources(synth: SimpleNamespace, kind: str) -> dict[str, dict[str, Any]]:
    return {k: r for k, r in synth.template["Resources"].items() if r["Type"] == kind}


def props(synth: SimpleNamespace, name: str) -> dict[str, Any]:
    logical = next(k for k, v in synth.names.items() if v == name)
    return synth.template["Resources"][logical]["Properties"]


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def role_grants(synth: SimpleNamespace, role: str) -> set[tuple[str, str]]:
    """Every (action, resource) an IAM role is allowed, from all the policies attached to it."""
    role_props = synth.template["Resources"][role]["Properties"]
    assert "ManagedPolicyArns" not in role_props, f"{role} has managed policies: {role_props['ManagedPolicyArns']}"
    assert "Policies" not in role_props
    pairs: set[tuple[str, str]] = set()
    for policy in resources(synth, "AWS::IAM::Policy").values():
        if {"Ref": role} not in policy["Properties"].get("Roles", []):
            continue
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            assert statement["Effect"] == "Allow"
            assert "NotAction" not in statement and "NotResource" not in statement
            for action in as_list(statement["Action"]):
                for resource in as_list(statement["Resource"]):
                    pairs.add((action, str(render(resource, synth.names))))
    return pairs


def logical_of(value: dict[str, Any]) -> str:
    return value["Fn::GetAtt"][0] if "Fn::GetAtt" in value else value["Ref"]


def function_by_handler(synth: SimpleNamespace, handler: str) -> dict[str, Any]:
    found = [
        r["Properties"]
        for r in resources(synth, "AWS::Lambda::Function").values()
        if r["Properties"]["Handler"] == handler
    ]
    assert len(found) == 1, f"{len(found)} functions with handler {handler}"
    return found[0]


def log_group_arn(props_: dict[str, Any]) -> str:
    return f"<{logical_of(props_['LoggingConfig']['LogGroup'])}.Arn>"


def worker_task(synth: SimpleNamespace) -> dict[str, Any]:
    (task,) = resources(synth, "AWS::ECS::TaskDefinition").values()
    return task["Properties"]


# -- nothing public; encryption and TLS everywhere -----------------------------------------------------


def test_every_bucket_is_private_encrypted_unversioned_and_tls_only(synth: SimpleNamespace) -> None:
    buckets = resources(synth, "AWS::S3::Bucket")
    assert {synth.names[k] for k in buckets} == {"UploadsBucket", "GalleryBucket", "SiteBucket"}
    policies = {
        logical_of(p["Properties"]["Bucket"]): p["Properties"]
        for p in resources(synth, "AWS::S3::BucketPolicy").values()
    }
    for logical, bucket in buckets.items():
        p = bucket["Properties"]
        assert p["PublicAccessBlockConfiguration"] == {
            "BlockPublicAcls": True,
            "BlockPublicPolicy": True,
            "IgnorePublicAcls": True,
            "RestrictPublicBuckets": True,
        }
        (rule,) = p["BucketEncryption"]["ServerSideEncryptionConfiguration"]
        assert rule["ServerSideEncryptionByDefault"] == {"SSEAlgorithm": "AES256"}
        assert p.get("VersioningConfiguration", {}).get("Status") != "Enabled"  # a deleted photo is gone
        assert "WebsiteConfiguration" not in p and "AccessControl" not in p
        assert bucket["DeletionPolicy"] == "Delete"
        statements = policies[logical]["PolicyDocument"]["Statement"]
        denies = [s for s in statements if s["Effect"] == "Deny"]
        assert any(s.get("Condition") == {"Bool": {"aws:SecureTransport": "false"}} for s in denies)
        assert any(s.get("Condition") == {"NumericLessThan": {"s3:TlsVersion": 1.2}} for s in denies)
        for s in statements:  # the only principal ever allowed is CloudFront, for one distribution
            if s["Effect"] == "Allow":
                assert s["Principal"] == {"Service": "cloudfront.amazonaws.com"}
                assert s["Action"] == "s3:GetObject"
                assert render(s["Condition"], synth.names) == {
                    "StringEquals": {
                        "AWS:SourceArn": "arn:<AWS::Partition>:cloudfront::<AWS::AccountId>:distribution/<Distribution>"
                    }
                }


def test_cloudfront_reads_buckets_through_oac_and_only_thumbnails_of_the_gallery(synth: SimpleNamespace) -> None:
    def allowed(bucket: str) -> list[str]:
        logical = next(k for k, v in synth.names.items() if v == bucket)
        for policy in resources(synth, "AWS::S3::BucketPolicy").values():
            if logical_of(policy["Properties"]["Bucket"]) == logical:
                statements = policy["Properties"]["PolicyDocument"]["Statement"]
                return [render(s["Resource"], synth.names) for s in statements if s["Effect"] == "Allow"]
        return []

    assert allowed("GalleryBucket") == [f"<GalleryBucket.Arn>/{DEPLOYMENT.gallery_public_pattern}"]
    assert allowed("SiteBucket") == ["<SiteBucket.Arn>/*"]
    assert allowed("UploadsBucket") == []
    (oac,) = resources(synth, "AWS::CloudFront::OriginAccessControl").values()
    assert oac["Properties"]["OriginAccessControlConfig"]["SigningBehavior"] == "always"
    assert oac["Properties"]["OriginAccessControlConfig"]["OriginAccessControlOriginType"] == "s3"
    config = props(synth, "Distribution")["DistributionConfig"]
    for origin in config["Origins"]:
        if "S3OriginConfig" in origin:
            assert origin["S3OriginConfig"] == {"OriginAccessIdentity": ""}  # no legacy OAI
            assert render(origin["OriginAccessControlId"], synth.names).endswith(".Id>")
        else:
            assert origin["CustomOriginConfig"] == {
                "OriginProtocolPolicy": "https-only",
                "OriginSSLProtocols": ["TLSv1.2"],
            }
    assert not any(m.level.name == "ERROR" for m in synth.messages)
    assert not [m.entry.data for m in synth.messages if m.level.name == "WARNING"]


def test_cloudfront_routes_page_api_and_thumbnails(synth: SimpleNamespace) -> None:
    config = props(synth, "Distribution")["DistributionConfig"]
    origins = {o["Id"]: render(o["DomainName"], synth.names) for o in config["Origins"]}
    assert config["DefaultRootObject"] == "index.html"
    default = config["DefaultCacheBehavior"]
    assert origins[default["TargetOriginId"]] == "<SiteBucket.RegionalDomainName>"
    assert default["ViewerProtocolPolicy"] == "redirect-to-https"
    behaviours = {b["PathPattern"]: b for b in config["CacheBehaviors"]}
    assert set(behaviours) == {"/api/*", "/" + DEPLOYMENT.gallery_public_pattern}
    api = behaviours["/api/*"]
    assert origins[api["TargetOriginId"]] == "<HttpApi>.execute-api.<AWS::Region>.<AWS::URLSuffix>"
    assert api["CachePolicyId"] == CACHING_DISABLED
    assert set(api["AllowedMethods"]) == {"GET", "HEAD", "OPTIONS", "PUT", "PATCH", "POST", "DELETE"}
    assert api["ViewerProtocolPolicy"] == "https-only"
    (request_policy,) = resources(synth, "AWS::CloudFront::OriginRequestPolicy").values()
    forwarded = request_policy["Properties"]["OriginRequestPolicyConfig"]
    assert forwarded["HeadersConfig"]["HeaderBehavior"] == "whitelist"  # never the viewer's Host
    assert (
        "Host" not in forwarded["HeadersConfig"]["Headers"] and "Content-Type" in forwarded["HeadersConfig"]["Headers"]
    )
    assert forwarded["CookiesConfig"] == {"CookieBehavior": "none"}
    thumbnails = behaviours["/" + DEPLOYMENT.gallery_public_pattern]
    assert origins[thumbnails["TargetOriginId"]] == "<GalleryBucket.RegionalDomainName>"
    assert thumbnails["CachePolicyId"] == CACHING_OPTIMIZED
    assert thumbnails["AllowedMethods"] == ["GET", "HEAD"]


SECURITY_HEADERS = "67f7725c-6f97-4210-82d7-5512b31e9d03"  # CloudFront's managed SecurityHeadersPolicy


def test_gallery_images_allow_the_pages_served_elsewhere_by_cors(
    synth: SimpleNamespace, synth_with_context: SimpleNamespace
) -> None:
    """The page draws gallery images on a canvas (the share card): from this distribution's page they are
    same-origin; pages of other origins need CORS, or the canvas is tainted."""

    def gallery_behaviour(s: SimpleNamespace) -> dict[str, Any]:
        config = props(s, "Distribution")["DistributionConfig"]
        return next(b for b in config["CacheBehaviors"] if b["PathPattern"] == "/" + DEPLOYMENT.gallery_public_pattern)

    assert gallery_behaviour(synth)["ResponseHeadersPolicyId"] == SECURITY_HEADERS
    assert not resources(synth, "AWS::CloudFront::ResponseHeadersPolicy")
    ((name, policy),) = resources(synth_with_context, "AWS::CloudFront::ResponseHeadersPolicy").items()
    assert logical_of(gallery_behaviour(synth_with_context)["ResponseHeadersPolicyId"]) == name
    config = policy["Properties"]["ResponseHeadersPolicyConfig"]
    cors = config["CorsConfig"]
    assert cors["AccessControlAllowOrigins"] == {"Items": ["https://photos.example.org"]}
    assert cors["AccessControlAllowMethods"] == {"Items": ["GET", "HEAD"]}
    assert cors["AccessControlAllowCredentials"] is False and cors["OriginOverride"] is True
    security = config["SecurityHeadersConfig"]
    assert security["ContentTypeOptions"] == {"Override": True}
    assert security["FrameOptions"]["FrameOption"] == "SAMEORIGIN"
    assert security["StrictTransportSecurity"]["AccessControlMaxAgeSec"] == 365 * 24 * 3600


def test_uploads_expire_and_accept_posts_only_from_the_page(
    synth: SimpleNamespace, synth_with_context: SimpleNamespace
) -> None:
    uploads = props(synth, "UploadsBucket")
    (rule,) = uploads["LifecycleConfiguration"]["Rules"]
    assert rule["Prefix"] == "uploads/" and rule["Status"] == "Enabled"
    assert rule["ExpirationInDays"] == DEPLOYMENT.uploads_expire_days
    (cors,) = uploads["CorsConfiguration"]["CorsRules"]
    assert cors["AllowedMethods"] == ["POST"]
    assert render(cors["AllowedOrigins"], synth.names) == ["https://<Distribution.DomainName>"]
    (cors,) = props(synth_with_context, "UploadsBucket")["CorsConfiguration"]["CorsRules"]
    assert render(cors["AllowedOrigins"], synth.names) == [
        "https://<Distribution.DomainName>",
        "https://photos.example.org",
    ]
    for other in ("GalleryBucket", "SiteBucket"):
        assert "CorsConfiguration" not in props(synth, other)


def test_no_auto_delete_custom_resource(synth: SimpleNamespace) -> None:
    assert not resources(synth, "Custom::S3AutoDeleteObjects")


def test_queues_encrypted_tls_only_with_redrive_from_spec(synth: SimpleNamespace) -> None:
    jobs, dead = props(synth, "JobsQueue"), props(synth, "DeadLetterQueue")
    for queue in (jobs, dead):
        assert queue["SqsManagedSseEnabled"] is True
    assert render(jobs["RedrivePolicy"], synth.names) == {
        "deadLetterTargetArn": "<DeadLetterQueue.Arn>",
        "maxReceiveCount": DEPLOYMENT.jobs_queue.max_receives,
    }
    assert jobs["VisibilityTimeout"] == DEPLOYMENT.jobs_queue.visibility_timeout_seconds
    assert jobs["VisibilityTimeout"] > DEPLOYMENT.worker.job_timeout_seconds
    assert jobs["MessageRetentionPeriod"] == DEPLOYMENT.jobs_queue.retention_seconds
    assert jobs["ReceiveMessageWaitTimeSeconds"] == DEPLOYMENT.jobs_queue.receive_wait_seconds
    assert dead["MessageRetentionPeriod"] == DEPLOYMENT.dead_letters.retention_seconds
    tls_only = {
        str(render(p["Properties"]["Queues"][0], synth.names)): p["Properties"]["PolicyDocument"]["Statement"]
        for p in resources(synth, "AWS::SQS::QueuePolicy").values()
    }
    assert set(tls_only) == {"<JobsQueue>", "<DeadLetterQueue>"}
    for statements in tls_only.values():
        assert [s["Effect"] for s in statements] == ["Deny"]
        assert statements[0]["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_visibility_timeout_must_exceed_job_timeout() -> None:
    from dataclasses import replace

    spec = replace(
        DEPLOYMENT,
        jobs_queue=replace(DEPLOYMENT.jobs_queue, visibility_timeout_seconds=DEPLOYMENT.worker.job_timeout_seconds),
    )
    with pytest.raises(Exception, match="visibility timeout"):
        LookalikeStack(cdk.App(), "Broken", spec=spec)


def test_a_gallery_uri_elsewhere_is_refused_with_a_clear_error() -> None:
    """Workers may read, and CloudFront serves thumbnails from, the stack's own gallery bucket only."""
    app = cdk.App(context={"gallery_uri": "s3://other-bucket/galleries/"})
    with pytest.raises(ValueError, match="gallery_uri is not supported.*lookalike gallery push"):
        LookalikeStack(app, "Elsewhere")


def test_table_on_demand_encrypted_with_ttl(synth: SimpleNamespace, synth_with_context: SimpleNamespace) -> None:
    table = props(synth, "JobsTable")
    assert table["BillingMode"] == "PAY_PER_REQUEST"
    assert table["KeySchema"] == [{"AttributeName": DEPLOYMENT.jobs_table.partition_key, "KeyType": "HASH"}]
    assert table["AttributeDefinitions"] == [
        {"AttributeName": DEPLOYMENT.jobs_table.partition_key, "AttributeType": "S"}
    ]
    assert table["TimeToLiveSpecification"] == {"AttributeName": DEPLOYMENT.jobs_table.ttl_attribute, "Enabled": True}
    assert table["SSESpecification"]["SSEEnabled"] is True
    assert table["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is False
    assert (
        props(synth_with_context, "JobsTable")["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True
    )


# -- least privilege -----------------------------------------------------------------------------------


def test_each_function_role_has_exactly_its_grants(synth: SimpleNamespace) -> None:
    for fn in DEPLOYMENT.functions:
        function = function_by_handler(synth, fn.handler)
        expected = set().union(*(EXPECTED_GRANTS[g] for g in fn.grants))
        expected |= {("logs:CreateLogStream", log_group_arn(function)), ("logs:PutLogEvents", log_group_arn(function))}
        assert role_grants(synth, logical_of(function["Role"])) == expected, fn.name


def test_worker_task_role_has_exactly_the_worker_grants(synth: SimpleNamespace) -> None:
    task = worker_task(synth)
    expected = set().union(*(EXPECTED_GRANTS[g] for g in DEPLOYMENT.worker.grants))
    assert role_grants(synth, logical_of(task["TaskRoleArn"])) == expected


def test_worker_execution_role_pulls_its_image_and_writes_its_logs_only(synth: SimpleNamespace) -> None:
    task = worker_task(synth)
    (container,) = task["ContainerDefinitions"]
    logs = f"<{logical_of(container['LogConfiguration']['Options']['awslogs-group'])}.Arn>"
    repository = (
        "arn:<AWS::Partition>:ecr:<AWS::Region>:<AWS::AccountId>:repository/"
        "cdk-hnb659fds-container-assets-${AWS::AccountId}-${AWS::Region}"
    )
    assert role_grants(synth, logical_of(task["ExecutionRoleArn"])) == {
        ("ecr:BatchCheckLayerAvailability", repository),
        ("ecr:GetDownloadUrlForLayer", repository),
        ("ecr:BatchGetImage", repository),
        ("ecr:GetAuthorizationToken", "*"),  # the one action AWS allows on no narrower resource
        ("logs:CreateLogStream", logs),
        ("logs:PutLogEvents", logs),
    }


def test_page_deployment_role_touches_the_site_and_cdk_assets_only(synth: SimpleNamespace) -> None:
    deployment = next(
        r["Properties"]
        for k, r in resources(synth, "AWS::Lambda::Function").items()
        if k.startswith("CustomCDKBucketDeployment")
    )
    pairs = role_grants(synth, logical_of(deployment["Role"]))
    assets = "arn:<AWS::Partition>:s3:::cdk-hnb659fds-assets-${AWS::AccountId}-${AWS::Region}"
    allowed = {"<SiteBucket.Arn>", "<SiteBucket.Arn>/*", assets, assets + "/*", log_group_arn(deployment)}
    allowed.add("arn:<AWS::Partition>:cloudfront::<AWS::AccountId>:distribution/<Distribution>")
    assert {resource for _, resource in pairs} == allowed
    assert {a for a, r in pairs if r.startswith("arn:<AWS::Partition>:cloudfront")} == {
        "cloudfront:CreateInvalidation",
        "cloudfront:GetInvalidation",
    }
    assert {a for a, r in pairs if r.startswith(assets)} <= {"s3:GetObject*", "s3:GetBucket*", "s3:List*"}


def test_every_role_is_known_and_no_policy_allows_everything(synth: SimpleNamespace) -> None:
    roles = set(resources(synth, "AWS::IAM::Role"))
    known = {logical_of(function_by_handler(synth, fn.handler)["Role"]) for fn in DEPLOYMENT.functions}
    task = worker_task(synth)
    known |= {logical_of(task["TaskRoleArn"]), logical_of(task["ExecutionRoleArn"])}
    known |= {k for k in roles if k.startswith("CustomCDKBucketDeployment")}
    (account,) = resources(synth, "AWS::ApiGateway::Account").values()
    known.add(logical_of(account["Properties"]["CloudWatchRoleArn"]))
    assert roles == known
    for policy in resources(synth, "AWS::IAM::Policy").values():
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            for action in as_list(statement["Action"]):
                assert action != "*" and not action.endswith(":*"), action
            if statement.get("Resource") == "*":
                assert statement["Action"] == "ecr:GetAuthorizationToken"


#: How the adapters' boto3 calls are authorised (HeadObject by s3:GetObject, a presigned POST by s3:PutObject).
SDK_ACTIONS = {
    "get_item": "dynamodb:GetItem",
    "put_item": "dynamodb:PutItem",
    "update_item": "dynamodb:UpdateItem",
    "delete_item": "dynamodb:DeleteItem",
    "query": "dynamodb:Query",
    "scan": "dynamodb:Scan",
    "send_message": "sqs:SendMessage",
    "receive_message": "sqs:ReceiveMessage",
    "delete_message": "sqs:DeleteMessage",
    "change_message_visibility": "sqs:ChangeMessageVisibility",
    "get_queue_attributes": "sqs:GetQueueAttributes",
    "get_object": "s3:GetObject",
    "head_object": "s3:GetObject",
    "download_file": "s3:GetObject",
    "delete_object": "s3:DeleteObject",
    "generate_presigned_post": "s3:PutObject",
    "post_to_connection": "execute-api:ManageConnections",
}
TRANSACT_ACTIONS = {
    "Put": "dynamodb:PutItem",
    "Update": "dynamodb:UpdateItem",
    "Delete": "dynamodb:DeleteItem",
    "ConditionCheck": "dynamodb:ConditionCheckItem",
}
NOT_AWS_CALLS = {"exceptions", "meta", "close", "post"}  # SDK attributes, and the embedded notifier's httpx


def test_granted_actions_are_the_ones_the_aws_adapters_use(synth: SimpleNamespace) -> None:
    import re

    adapters = ROOT / "src" / "lookalike" / "adapters"
    used: set[str] = set()
    for name in ("dynamo_jobs.py", "sqs_queue.py", "s3_storage.py", "notifiers.py"):
        text = (adapters / name).read_text()
        for call in set(re.findall(r"self\.client\.(\w+)", text)) | set(
            re.findall(r"client\.(post_to_connection)\(", text)
        ):
            if call == "transact_write_items":
                used |= {TRANSACT_ACTIONS[op] for op in re.findall(r'\{"(Put|Update|Delete|ConditionCheck)":', text)}
            elif call not in NOT_AWS_CALLS:
                assert call in SDK_ACTIONS, f"{name} calls {call}: say which IAM action authorises it"
                used.add(SDK_ACTIONS[call])
    task = worker_task(synth)
    roles = [logical_of(function_by_handler(synth, fn.handler)["Role"]) for fn in DEPLOYMENT.functions]
    granted = {action for role in [*roles, logical_of(task["TaskRoleArn"])] for action, _ in role_grants(synth, role)}
    for service in ("dynamodb:", "sqs:", "execute-api:"):  # exactly what is called, nothing unused
        assert {a for a in granted if a.startswith(service)} == {a for a in used if a.startswith(service)}, service
    assert {a for a in used if a.startswith("s3:")} <= granted


# -- functions, APIs ------------------------------------------------------------------------------------


def test_functions_from_spec_with_environment_and_log_retention(synth: SimpleNamespace) -> None:
    for fn in DEPLOYMENT.functions:
        p = function_by_handler(synth, fn.handler)
        assert p["Runtime"] == NEWEST_LAMBDA_PYTHON
        assert (p["Timeout"], p["MemorySize"]) == (fn.timeout_seconds, fn.memory_mb)
        env = render(p["Environment"]["Variables"], synth.names)
        assert env[ENVIRONMENT["profile"]] == "aws"
        assert env[ENVIRONMENT["uploads_bucket"]] == "<UploadsBucket>"
        assert env[ENVIRONMENT["queue_url"]] == "<JobsQueue>"
        assert env[ENVIRONMENT["dead_letter_queue_url"]] == "<DeadLetterQueue>"
        assert env[ENVIRONMENT["jobs_table"]] == "<JobsTable>"
        assert env[ENVIRONMENT["websocket_endpoint"]] == CALLBACK_URL
        assert env["LOOKALIKE_MAX_UPLOAD_BYTES"] == str(DEPLOYMENT.max_upload_bytes)
        assert env["LOOKALIKE_UPLOAD_EXPIRES_SECONDS"] == str(DEPLOYMENT.upload_expires_seconds)
        assert env["LOOKALIKE_JOB_TTL_SECONDS"] == str(DEPLOYMENT.job_ttl_seconds)
        assert static_environment().items() <= env.items()
    for function in resources(synth, "AWS::Lambda::Function").values():  # CDK's page copier too
        assert "LogGroup" in function["Properties"]["LoggingConfig"]
    groups = resources(synth, "AWS::Logs::LogGroup")
    assert len(groups) == len(DEPLOYMENT.functions) + 4  # + the worker, the page copier, the two API stages
    for group in groups.values():
        assert group["Properties"]["RetentionInDays"] == DEPLOYMENT.log_retention_days
        assert group["DeletionPolicy"] == "Delete"


def test_lambda_bundle_is_the_pure_python_part_and_imports_without_the_engine(synth: SimpleNamespace) -> None:
    code = function_by_handler(synth, DEPLOYMENT.functions[0].handler)["Code"]["S3Key"]
    bundle = synth.outdir / f"asset.{code.removesuffix('.zip')}"
    files = {p.relative_to(bundle).as_posix() for p in bundle.rglob("*") if p.is_file()}
    src = ROOT / "src"
    expected = set()
    for source in LAMBDA_SOURCES:
        path = src / source
        found = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
        expected |= {p.relative_to(src).as_posix() for p in found if "__pycache__" not in p.parts}
    assert files == expected
    assert not any(f.startswith(("lookalike/engine/", "lookalike/gallery/", "lookalike/web/")) for f in files)
    # The Lambda runtime has the standard library and boto3; anything else imported at load time fails.
    boto_dir = Path(__import__("boto3").__file__).parents[1]
    check = f"""
import importlib, importlib.abc, sys
RUNTIME = {{"boto3", "botocore", "s3transfer", "jmespath", "dateutil", "urllib3", "six"}}
ALLOWED = set(sys.stdlib_module_names) | RUNTIME | {{"lookalike"}}
class Runtime(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] not in ALLOWED:
            raise ImportError(f"{{name}} is not in the Lambda runtime")
sys.meta_path.insert(0, Runtime())
sys.path[:0] = [{str(bundle)!r}, {str(boto_dir)!r}]
for handler in {[fn.handler for fn in DEPLOYMENT.functions]!r}:
    module, _, attr = handler.rpartition(".")
    assert callable(getattr(importlib.import_module(module), attr)), handler
import lookalike
assert lookalike.__file__.startswith({str(bundle)!r}), lookalike.__file__
"""
    result = subprocess.run([sys.executable, "-S", "-c", check], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr


def test_websocket_routes_and_stage_match_spec(synth: SimpleNamespace) -> None:
    api = props(synth, "WebSocketApi")
    assert api["ProtocolType"] == "WEBSOCKET"
    assert api["RouteSelectionExpression"] == DEPLOYMENT.websocket_route_selection
    routes = [
        r["Properties"]
        for r in resources(synth, "AWS::ApiGatewayV2::Route").values()
        if render(r["Properties"]["ApiId"], synth.names) == "<WebSocketApi>"
    ]
    assert sorted(r["RouteKey"] for r in routes) == sorted(DEPLOYMENT.websocket_routes)
    integrations = resources(synth, "AWS::ApiGatewayV2::Integration")
    handler = next(fn.handler for fn in DEPLOYMENT.functions if fn.name == "websocket")
    function_logical = next(
        k for k, r in resources(synth, "AWS::Lambda::Function").items() if r["Properties"]["Handler"] == handler
    )
    for route in routes:
        target = render(route["Target"], synth.names)
        integration = integrations[target.removeprefix("integrations/<").removesuffix(">")]["Properties"]
        assert integration["IntegrationType"] == "AWS_PROXY"
        assert f"<{function_logical}.Arn>" in render(integration["IntegrationUri"], synth.names)
    stage = next(
        r["Properties"]
        for r in resources(synth, "AWS::ApiGatewayV2::Stage").values()
        if render(r["Properties"]["ApiId"], synth.names) == "<WebSocketApi>"
    )
    assert stage["StageName"] == STAGE and stage["AutoDeploy"] is True
    assert stage["DefaultRouteSettings"]["ThrottlingRateLimit"] > 0
    assert stage["DefaultRouteSettings"]["ThrottlingBurstLimit"] > 0


def test_lambdas_run_the_newest_python_lambda_offers(synth: SimpleNamespace) -> None:
    runtimes = {fn.name: function_by_handler(synth, fn.handler)["Runtime"] for fn in DEPLOYMENT.functions}
    assert set(runtimes.values()) == {NEWEST_LAMBDA_PYTHON}, runtimes


def test_both_api_stages_write_access_logs_to_a_log_group_with_retention(synth: SimpleNamespace) -> None:
    groups = resources(synth, "AWS::Logs::LogGroup")
    stages = {
        render(r["Properties"]["ApiId"], synth.names): r for r in resources(synth, "AWS::ApiGatewayV2::Stage").values()
    }
    assert set(stages) == {"<HttpApi>", "<WebSocketApi>"}
    for api, stage in stages.items():
        settings = stage["Properties"]["AccessLogSettings"]
        group = groups[logical_of(settings["DestinationArn"])]
        assert group["Properties"]["RetentionInDays"] == DEPLOYMENT.log_retention_days, api
        fields = json.loads(settings["Format"])
        assert {"requestId", "ip", "route", "status"} <= set(fields), api
        assert all(v.startswith("$context.") for v in fields.values()), api
    # WebSocket stages log through the account's API Gateway CloudWatch role, which must be set first.
    (account_id, account) = next(iter(resources(synth, "AWS::ApiGateway::Account").items()))
    assert account_id in as_list(stages["<WebSocketApi>"].get("DependsOn", []))
    role_id = logical_of(account["Properties"]["CloudWatchRoleArn"])
    role = synth.template["Resources"][role_id]
    assert role["Properties"]["AssumeRolePolicyDocument"]["Statement"] == [
        {"Action": "sts:AssumeRole", "Effect": "Allow", "Principal": {"Service": "apigateway.amazonaws.com"}}
    ]
    (policy,) = role["Properties"]["ManagedPolicyArns"]
    assert render(policy, synth.names).endswith(":iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs")
    assert not [
        p for p in resources(synth, "AWS::IAM::Policy").values() if {"Ref": role_id} in p["Properties"].get("Roles", [])
    ]
    assert role["DeletionPolicy"] == "Retain" and account["DeletionPolicy"] == "Retain"  # other APIs may use it


def test_the_websocket_function_knows_the_page_origins(
    synth: SimpleNamespace, synth_with_context: SimpleNamespace
) -> None:
    websocket = next(fn.handler for fn in DEPLOYMENT.functions if fn.name == "websocket")
    for s, expected in (
        (synth, "https://<Distribution.DomainName>"),
        (synth_with_context, "https://<Distribution.DomainName>,https://photos.example.org"),
    ):
        env = render(function_by_handler(s, websocket)["Environment"]["Variables"], s.names)
        assert env[ENVIRONMENT["websocket_origins"]] == expected
    for fn in DEPLOYMENT.functions:  # the others do not need it (and would make a dependency cycle)
        if fn.name != "websocket":
            assert (
                ENVIRONMENT["websocket_origins"]
                not in function_by_handler(synth, fn.handler)["Environment"]["Variables"]
            )


def test_websocket_routes_have_no_route_responses(synth: SimpleNamespace) -> None:
    """The handlers answer with post_to_connection only: no route returns the handler's value to the client."""
    assert not resources(synth, "AWS::ApiGatewayV2::RouteResponse")
    assert not resources(synth, "AWS::ApiGatewayV2::IntegrationResponse")
    for route in resources(synth, "AWS::ApiGatewayV2::Route").values():
        assert "RouteResponseSelectionExpression" not in route["Properties"]


def test_http_routes_match_spec(synth: SimpleNamespace, synth_with_context: SimpleNamespace) -> None:
    routes = {
        r["Properties"]["RouteKey"]: r["Properties"]
        for r in resources(synth, "AWS::ApiGatewayV2::Route").values()
        if render(r["Properties"]["ApiId"], synth.names) == "<HttpApi>"
    }
    assert set(routes) == {f"{method} {path}" for method, path, _ in DEPLOYMENT.http_routes}
    integrations = resources(synth, "AWS::ApiGatewayV2::Integration")
    for method, path, name in DEPLOYMENT.http_routes:
        handler = next(fn.handler for fn in DEPLOYMENT.functions if fn.name == name)
        function_logical = next(
            k for k, r in resources(synth, "AWS::Lambda::Function").items() if r["Properties"]["Handler"] == handler
        )
        target = render(routes[f"{method} {path}"]["Target"], synth.names)
        integration = integrations[target.removeprefix("integrations/<").removesuffix(">")]["Properties"]
        assert integration["IntegrationUri"] == {"Fn::GetAtt": [function_logical, "Arn"]}
        assert integration["PayloadFormatVersion"] == "2.0"
    # The page reaches /api/* on its own origin (CloudFront): no CORS unless another origin is named.
    assert "CorsConfiguration" not in props(synth, "HttpApi")
    cors = props(synth_with_context, "HttpApi")["CorsConfiguration"]
    assert cors["AllowOrigins"] == ["https://photos.example.org"]


def test_page_config_points_at_the_websocket_stage(synth: SimpleNamespace) -> None:
    (deployment,) = resources(synth, "Custom::CDKBucketDeployment").values()
    p = deployment["Properties"]
    assert render(p["DestinationBucketName"], synth.names) == "<SiteBucket>"
    assert p["RetainOnDelete"] is False and p["Prune"] is True
    assert render(p["DistributionId"], synth.names) == "<Distribution>"
    config = None
    for key, markers in zip(p["SourceObjectKeys"], p["SourceMarkers"], strict=True):
        staged = synth.outdir / f"asset.{key.removesuffix('.zip')}"
        if (staged / "config.json").is_file():  # tokens are markers, filled in (JSON-quoted) at deploy time
            text = (staged / "config.json").read_text()
            for marker, value in markers.items():
                text = text.replace(marker, str(render(value, synth.names)))
            config = json.loads(text)
        else:  # laid out as the page links its files: /index.html, /static/app.js ...
            assert (staged / "index.html").is_file() and (staged / "static" / "app.js").is_file()
            assert (staged / "static" / "favicon.svg").is_file()
    assert config == {"websocket": WSS_URL, "api": ""}


# -- the worker -----------------------------------------------------------------------------------------


def test_no_nat_gateways_and_egress_only_workers(synth: SimpleNamespace) -> None:
    synth.assertions.resource_count_is("AWS::EC2::NatGateway", 0)
    (service,) = resources(synth, "AWS::ECS::Service").values()
    network = service["Properties"]["NetworkConfiguration"]["AwsvpcConfiguration"]
    assert network["AssignPublicIp"] == "ENABLED"
    (group,) = resources(synth, "AWS::EC2::SecurityGroup").values()
    assert "SecurityGroupIngress" not in group["Properties"]
    assert not resources(synth, "AWS::EC2::SecurityGroupIngress")
    assert [(e["IpProtocol"], e["FromPort"], e["ToPort"]) for e in group["Properties"]["SecurityGroupEgress"]] == [
        ("tcp", 443, 443)
    ]


def test_worker_task_from_spec(synth: SimpleNamespace) -> None:
    worker = DEPLOYMENT.worker
    task = worker_task(synth)
    assert (task["Cpu"], task["Memory"]) == (str(worker.cpu), str(worker.memory_mb))
    assert task["RequiresCompatibilities"] == ["FARGATE"]
    (container,) = task["ContainerDefinitions"]
    assert container["Command"] == ["lookalike", "worker"]
    assert container["HealthCheck"]["Command"] == ["CMD", *worker.health_command]
    assert container["StopTimeout"] == worker.stop_timeout_seconds
    env = {e["Name"]: render(e["Value"], synth.names) for e in container["Environment"]}
    assert env[ENVIRONMENT["gallery_uri"]] == "s3://<GalleryBucket>/galleries/"
    assert env[ENVIRONMENT["websocket_endpoint"]] == CALLBACK_URL
    assert env[ENVIRONMENT["queue_url"]] == "<JobsQueue>"
    assert env[ENVIRONMENT["dead_letter_queue_url"]] == "<DeadLetterQueue>"
    assert env[ENVIRONMENT["profile"]] == "aws"
    assert static_environment().items() <= env.items()
    assert env["LOOKALIKE_VISIBILITY_TIMEOUT_SECONDS"] == str(DEPLOYMENT.jobs_queue.visibility_timeout_seconds)
    assert container["LogConfiguration"]["LogDriver"] == "awslogs"
    assets = json.loads((synth.outdir / "Lookalike.assets.json").read_text())
    (image,) = assets["dockerImages"].values()
    assert image["source"]["dockerFile"] == "Dockerfile"
    context = synth.outdir / image["source"]["directory"]
    assert (context / "Dockerfile").is_file() and (context / "src" / "lookalike").is_dir()
    for never in (".git", ".venv", "deploy/aws/node_modules", "deploy/aws/cdk.out"):
        assert not (context / never).exists(), never


# -- scaling, by AWS's documented rules (not CDK's intervals) --------------------------------------------
#
# Application Auto Scaling's StepAdjustment: bounds are relative to the alarm's threshold; when the metric
# is above the threshold a step's lower bound is inclusive and its upper bound exclusive, when it is below,
# the lower bound is exclusive and the upper bound inclusive.  The documentation's examples put a metric
# equal to the threshold in both [50, 60) and (40, 50]: a backlog exactly on a threshold has no single
# reading, and is an error here.  An alarm with scaling actions invokes them every minute it stays in alarm.

COMPARISONS = {
    "GreaterThanOrEqualToThreshold": lambda value, threshold: value >= threshold,
    "GreaterThanThreshold": lambda value, threshold: value > threshold,
    "LessThanThreshold": lambda value, threshold: value < threshold,
    "LessThanOrEqualToThreshold": lambda value, threshold: value <= threshold,
}


def step_applies(step: dict[str, Any], offset: float) -> bool:
    """Does this step adjustment take a metric ``offset`` away from the alarm's threshold?"""
    assert offset != 0, "a backlog exactly on an alarm threshold: AWS documents no single step for it"
    lower = step.get("MetricIntervalLowerBound", float("-inf"))
    upper = step.get("MetricIntervalUpperBound", float("inf"))
    if offset > 0:
        return lower <= offset < upper
    return lower < offset <= upper


def scaling_alarms(synth: SimpleNamespace) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(alarm, the step scaling configuration it invokes) for every alarm that scales the workers."""
    policies = resources(synth, "AWS::ApplicationAutoScaling::ScalingPolicy")
    found = []
    for alarm in resources(synth, "AWS::CloudWatch::Alarm").values():
        for action in alarm["Properties"].get("AlarmActions", []):
            if isinstance(action, dict) and action.get("Ref") in policies:
                found.append((alarm["Properties"], policies[action["Ref"]]["Properties"]))
    return found


def scaling_answers(synth: SimpleNamespace, backlog: int) -> list[int]:
    """The task counts the alarms in alarm at this backlog ask for (ExactCapacity), one per alarm."""
    answers = []
    for alarm, policy in scaling_alarms(synth):
        if not COMPARISONS[alarm["ComparisonOperator"]](backlog, alarm["Threshold"]):
            continue
        config = policy["StepScalingPolicyConfiguration"]
        assert config["AdjustmentType"] == "ExactCapacity"
        offset = backlog - alarm["Threshold"]
        matching = [s["ScalingAdjustment"] for s in config["StepAdjustments"] if step_applies(s, offset)]
        assert len(matching) == 1, f"backlog {backlog}: {len(matching)} steps of one policy apply"
        answers.append(matching[0])
    return answers


def tasks_for(synth: SimpleNamespace, backlog: int) -> int:
    (target,) = resources(synth, "AWS::ApplicationAutoScaling::ScalableTarget").values()
    (answer,) = scaling_answers(synth, backlog)
    return max(target["Properties"]["MinCapacity"], min(answer, target["Properties"]["MaxCapacity"]))


def spec_tasks(backlog: int) -> int:
    return max(tasks for messages, tasks in DEPLOYMENT.worker.scaling_steps if backlog >= messages)


def test_a_backlog_of_one_gets_a_worker(synth: SimpleNamespace) -> None:
    assert scaling_answers(synth, 1) == [1]
    assert tasks_for(synth, 1) == 1


def test_no_backlog_scales_the_workers_to_zero(synth: SimpleNamespace) -> None:
    assert scaling_answers(synth, 0) == [0]


def test_every_backlog_gets_exactly_one_scaling_answer_from_the_spec_steps(synth: SimpleNamespace) -> None:
    """Never two alarms at once (the old ``<= 20`` and ``>= 20`` both fired at 20), never none."""
    edges = [messages for messages, _ in DEPLOYMENT.worker.scaling_steps]
    for backlog in sorted(set(range(0, 130)) | {e + d for e in edges for d in (-1, 0, 1) if e + d >= 0}):
        answers = scaling_answers(synth, backlog)
        assert len(answers) == 1, f"backlog {backlog}: {len(answers)} alarms answer {answers}"
        assert tasks_for(synth, backlog) == spec_tasks(backlog), backlog
        assert (tasks_for(synth, backlog) >= 1) == (backlog >= 1), backlog


def test_no_whole_backlog_lies_on_a_scaling_threshold_or_step_bound(synth: SimpleNamespace) -> None:
    """Whatever side of a bound AWS counts as inclusive, no backlog can land on one."""
    for alarm, policy in scaling_alarms(synth):
        edges = [alarm["Threshold"]]
        for step in policy["StepScalingPolicyConfiguration"]["StepAdjustments"]:
            for bound in ("MetricIntervalLowerBound", "MetricIntervalUpperBound"):
                if bound in step:
                    edges.append(alarm["Threshold"] + step[bound])
        assert all(edge % 1 == 0.5 for edge in edges), edges


def test_worker_scaling_uses_jobs_waiting_and_in_progress(synth: SimpleNamespace) -> None:
    worker = DEPLOYMENT.worker
    (target,) = resources(synth, "AWS::ApplicationAutoScaling::ScalableTarget").values()
    assert (target["Properties"]["MinCapacity"], target["Properties"]["MaxCapacity"]) == (
        worker.min_tasks,
        worker.max_tasks,
    )
    assert worker.min_tasks == 0
    assert len(scaling_alarms(synth)) == 2
    for alarm, policy in scaling_alarms(synth):
        assert policy["StepScalingPolicyConfiguration"]["MetricAggregationType"] == "Maximum"
        assert alarm["EvaluationPeriods"] == 1
        metrics = {m["Id"]: m for m in alarm["Metrics"]}
        (expression,) = [m["Expression"] for m in metrics.values() if "Expression" in m]
        # SQS reports no in-flight count while nothing is in flight: a missing term must not hide the other
        assert expression == "FILL(visible, 0) + FILL(in_flight, 0)"
        stats = [m["MetricStat"] for m in metrics.values() if "MetricStat" in m]
        assert {render(s["Metric"]["Dimensions"][0]["Value"], synth.names) for s in stats} == {"<JobsQueue.QueueName>"}
        assert {s["Metric"]["MetricName"] for s in stats} == {
            "ApproximateNumberOfMessagesVisible",
            "ApproximateNumberOfMessagesNotVisible",
        }
        assert {s["Stat"] for s in stats} == {"Maximum"} and {s["Period"] for s in stats} == {60}


def test_scaling_steps_must_give_a_single_job_a_worker() -> None:
    from dataclasses import replace

    for steps in (((0, 0), (2, 1)), ((0, 0), (1, 0), (5, 1)), ((1, 1), (20, 2)), ((0, 0), (1, 1), (1, 2))):
        spec = replace(DEPLOYMENT, worker=replace(DEPLOYMENT.worker, scaling_steps=steps))
        with pytest.raises(ValueError, match="scaling steps"):
            LookalikeStack(cdk.App(), "Broken", spec=spec)


def test_the_service_has_no_desired_count_for_updates_to_reset(synth: SimpleNamespace) -> None:
    (service,) = resources(synth, "AWS::ECS::Service").values()
    assert "DesiredCount" not in service["Properties"]


def test_an_alarm_fires_when_the_oldest_job_waits_too_long(
    synth: SimpleNamespace, synth_with_context: SimpleNamespace
) -> None:
    def age_alarms(s: SimpleNamespace) -> list[dict[str, Any]]:
        return [
            a["Properties"]
            for a in resources(s, "AWS::CloudWatch::Alarm").values()
            if a["Properties"].get("MetricName") == "ApproximateAgeOfOldestMessage"
        ]

    (alarm,) = age_alarms(synth)
    assert render(alarm["Dimensions"], synth.names) == [{"Name": "QueueName", "Value": "<JobsQueue.QueueName>"}]
    assert alarm["Namespace"] == "AWS/SQS" and alarm["Statistic"] == "Maximum"
    assert alarm["Threshold"] == DEPLOYMENT.oldest_job_alarm_seconds
    assert alarm["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
    assert alarm["TreatMissingData"] == "notBreaching"
    assert "AlarmActions" not in alarm
    (alarm,) = age_alarms(synth_with_context)
    (topic,) = resources(synth_with_context, "AWS::SNS::Topic")
    assert alarm["AlarmActions"] == [{"Ref": topic}]


def test_dead_letter_alarm(synth: SimpleNamespace, synth_with_context: SimpleNamespace) -> None:
    def dlq_alarms(s: SimpleNamespace) -> list[dict[str, Any]]:
        found = []
        for alarm in resources(s, "AWS::CloudWatch::Alarm").values():
            metrics = alarm["Properties"].get("Metrics", [])
            queues = {
                str(render(m["MetricStat"]["Metric"]["Dimensions"][0]["Value"], s.names))
                for m in metrics
                if "MetricStat" in m
            }
            if queues == {"<DeadLetterQueue.QueueName>"}:
                found.append(alarm["Properties"])
        return found

    (alarm,) = dlq_alarms(synth)
    assert alarm["Threshold"] == 1 and alarm["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
    names = {m["MetricStat"]["Metric"]["MetricName"] for m in alarm["Metrics"] if "MetricStat" in m}
    assert "ApproximateNumberOfMessagesVisible" in names
    assert "AlarmActions" not in alarm
    (alarm,) = dlq_alarms(synth_with_context)
    (topic_ref,) = alarm["AlarmActions"]
    (subscription,) = resources(synth_with_context, "AWS::SNS::Subscription").values()
    assert subscription["Properties"]["Protocol"] == "email"
    assert subscription["Properties"]["Endpoint"] == "ops@example.org"
    assert subscription["Properties"]["TopicArn"] == topic_ref


def test_outputs(synth: SimpleNamespace) -> None:
    outputs = {k: render(v["Value"], synth.names) for k, v in synth.template["Outputs"].items()}
    assert outputs["PageUrl"] == "https://<Distribution.DomainName>/"
    assert outputs["WebSocketUrl"] == WSS_URL
    assert outputs["HttpApiUrl"].startswith("https://<HttpApi>.execute-api.")
    assert outputs["UploadsBucketName"] == "<UploadsBucket>"
    assert outputs["GalleryBucketName"] == "<GalleryBucket>"
    assert outputs["JobsQueueUrl"] == "<JobsQueue>"
    assert outputs["JobsTableName"] == "<JobsTable>"


# -- the template as CloudFormation sees it ------------------------------------------------------------


def test_cfn_lint_is_clean(synth: SimpleNamespace, synth_with_context: SimpleNamespace) -> None:
    cfn_lint = Path(sys.executable).with_name("cfn-lint")
    if not cfn_lint.exists():
        pytest.skip("cfn-lint is not installed (pip install -e '.[dev]')")
    templates = [str(s.outdir / "Lookalike.template.json") for s in (synth, synth_with_context)]
    result = subprocess.run(
        [str(cfn_lint), "--ignore-checks", "W3005", "--", *templates], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stdout + result.stderr


#: The cloud-assembly schema major each pinned CDK CLI reads (its bundled schema/version.json "revision");
#: it refuses an assembly of a higher major.  Pinning another CLI means looking its number up here.
CLI_READS_SCHEMA = {"2.1148.1": 55}


def pinned_cli_version() -> str:
    package = json.loads((APP_DIR / "package.json").read_text())
    lock = json.loads((APP_DIR / "package-lock.json").read_text())
    version = package["devDependencies"]["aws-cdk"]
    assert lock["packages"]["node_modules/aws-cdk"]["version"] == version
    return version


def test_aws_cdk_lib_is_pinned_to_what_the_pinned_cli_reads(synth: SimpleNamespace) -> None:
    import importlib.metadata
    import tomllib

    from packaging.requirements import Requirement

    reads = CLI_READS_SCHEMA[pinned_cli_version()]
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    pins = {
        name: Requirement(r).specifier
        for name in ("dev", "deploy")
        for r in extras[name]
        if Requirement(r).name == "aws-cdk-lib"
    }
    assert set(pins) == {"dev", "deploy"} and pins["dev"] == pins["deploy"], pins
    assert any(spec.operator in ("<", "<=", "==", "~=") for spec in pins["dev"]), "aws-cdk-lib has no upper bound"
    assert importlib.metadata.version("aws-cdk-lib") in pins["dev"]
    # The library's own schema requirement stays below the next major, and its assembly says so.
    (schema,) = [
        Requirement(r)
        for r in importlib.metadata.requires("aws-cdk-lib") or []
        if r.startswith("aws-cdk.cloud-assembly")
    ]
    assert not schema.specifier.contains(f"{reads + 1}.0.0"), schema
    manifest = json.loads((synth.outdir / "manifest.json").read_text())
    assert int(manifest["version"].split(".")[0]) <= reads, manifest["version"]


def test_the_schema_table_matches_the_installed_cli() -> None:
    import re

    bundle = APP_DIR / "node_modules" / "aws-cdk" / "lib" / "index.js"
    if not bundle.exists():
        pytest.skip("the CDK CLI is not installed (make cdk-cli)")
    installed = json.loads((APP_DIR / "node_modules" / "aws-cdk" / "package.json").read_text())["version"]
    assert installed == pinned_cli_version()
    found = re.search(r"cloud-assembly-schema/schema/version\.json[\s\S]{0,600}?revision:\s*(\d+)", bundle.read_text())
    assert found is not None, "the CLI's bundled schema version was not found"
    assert int(found.group(1)) == CLI_READS_SCHEMA[installed]


def test_cdk_cli_synth(tmp_path: Path) -> None:
    cli = APP_DIR / "node_modules" / ".bin" / "cdk"
    if not cli.exists():
        pytest.skip("the CDK CLI is not installed (make cdk-cli)")
    if shutil.which("node") is None:
        pytest.skip("node is not installed")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_") and not k.startswith("CDK_")}
    env.update(
        CDK_HOME=str(tmp_path / "home"),
        HOME=str(tmp_path / "home"),
        AWS_EC2_METADATA_DISABLED="true",  # no credentials: do not probe for an instance role
        CDK_DISABLE_VERSION_CHECK="1",
        CDK_DISABLE_CLI_TELEMETRY="true",
    )
    out = tmp_path / "cdk.out"
    result = subprocess.run(
        [str(cli), "synth", "--no-notices", "--quiet", "--app", f"{sys.executable} app.py", "--output", str(out)],
        cwd=APP_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    template = json.loads((out / "Lookalike.template.json").read_text())
    assert any(r["Type"] == "AWS::ECS::Service" for r in template["Resources"].values())
