"""The APIs and their functions: the WebSocket API (live channel), three Lambda functions with exactly
their grants, and the HTTP API (presign, job lookup)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import jsii
from aws_cdk import Duration, IgnoreMode, RemovalPolicy
from aws_cdk import aws_apigateway as apigateway
from aws_cdk import aws_apigatewayv2 as apigw
from aws_cdk import aws_apigatewayv2_integrations as integrations
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs

from lookalike.aws.spec import LAMBDA_SOURCES

from .grants import Targets, statements

if TYPE_CHECKING:
    from .stack import LookalikeStack

#: Stage throttling (requests or messages per second, and burst), a ceiling on what abuse can cost.
API_RATE_LIMIT = 50
API_BURST_LIMIT = 100

#: The newest Python AWS Lambda offers (its runtimes page lists python3.14, on Amazon Linux 2023).
LAMBDA_RUNTIME = lambda_.Runtime.PYTHON_3_14

#: One JSON line per request or WebSocket event in the stages' access logs ($context variables).
HTTP_ACCESS_LOG = {
    "requestId": "$context.requestId",
    "time": "$context.requestTime",
    "ip": "$context.identity.sourceIp",
    "method": "$context.httpMethod",
    "route": "$context.routeKey",
    "status": "$context.status",
    "bytes": "$context.responseLength",
    "latencyMs": "$context.responseLatency",
    "error": "$context.integrationErrorMessage",
}
WEBSOCKET_ACCESS_LOG = {
    "requestId": "$context.requestId",
    "time": "$context.requestTime",
    "ip": "$context.identity.sourceIp",
    "event": "$context.eventType",
    "route": "$context.routeKey",
    "connection": "$context.connectionId",
    "status": "$context.status",
    "error": "$context.error.message",
    "integrationError": "$context.integrationErrorMessage",
}

#: The Lambda handlers reply only with post_to_connection, so WebSocket routes have no route
#: responses: AWS then never sends a handler's return value to the client (see docs/deploy-aws.md).
WEBSOCKET_RETURN_RESPONSE = False


@jsii.implements(apigw.IAccessLogSettings)
class AccessLogs:
    """A stage's access log: JSON lines in a log group of the stack (kept ``log_retention_days``)."""

    def __init__(self, log_group: logs.ILogGroup, fields: dict[str, str]) -> None:
        self._destination = apigw.LogGroupLogDestination(log_group)
        self._format = apigateway.AccessLogFormat.custom(json.dumps(fields, separators=(",", ":")))

    @property
    def destination(self) -> apigw.IAccessLogDestination:
        return self._destination

    @property
    def format(self) -> apigateway.AccessLogFormat:
        return self._format


def add_api_gateway_logging_role(stack: LookalikeStack) -> apigateway.CfnAccount:
    """WebSocket (and REST) stages log through the account's API Gateway CloudWatch role; without one
    set, a stage with access logs fails to deploy.  This is the role CDK's RestApi makes by default:
    AWS's managed policy for it, kept when the stack goes (other APIs in the region may use it too)."""
    role = iam.Role(
        stack,
        "ApiGatewayLogsRole",
        assumed_by=iam.ServicePrincipal("apigateway.amazonaws.com"),
        description="API Gateway writes access logs to CloudWatch Logs (the account and region's setting)",
        managed_policies=[
            iam.ManagedPolicy.from_aws_managed_policy_name("service-role/AmazonAPIGatewayPushToCloudWatchLogs")
        ],
    )
    role.apply_removal_policy(RemovalPolicy.RETAIN)
    account = apigateway.CfnAccount(stack, "ApiGatewayAccount", cloud_watch_role_arn=role.role_arn)
    account.apply_removal_policy(RemovalPolicy.RETAIN)
    return account


def add_websocket_api(stack: LookalikeStack) -> None:
    stack.websocket_api = apigw.WebSocketApi(
        stack, "WebSocketApi", route_selection_expression=stack.spec.websocket_route_selection
    )
    account = add_api_gateway_logging_role(stack)
    stack.websocket_stage = apigw.WebSocketStage(
        stack,
        "WebSocketStage",
        web_socket_api=stack.websocket_api,
        stage_name=stack.spec.websocket_stage,
        auto_deploy=True,
        throttle=apigw.ThrottleSettings(rate_limit=API_RATE_LIMIT, burst_limit=API_BURST_LIMIT),
        access_log_settings=AccessLogs(stack.log_group("WebSocketAccessLogs"), WEBSOCKET_ACCESS_LOG),
    )
    stack.websocket_stage.node.add_dependency(account)
    stack.connections_arn = stack.format_arn(
        service="execute-api",
        resource=stack.websocket_api.api_id,
        resource_name=f"{stack.spec.websocket_stage}/POST/@connections/*",
    )
    stack.targets = Targets(
        uploads=stack.uploads_bucket,
        gallery=stack.gallery_bucket,
        jobs_queue=stack.jobs_queue,
        dead_letters=stack.dead_letters,
        table=stack.table,
        connections_arn=stack.connections_arn,
    )


def lambda_code(stack: LookalikeStack) -> lambda_.Code:
    """``src/`` with everything but ``LAMBDA_SOURCES`` left out (glob excludes, then re-includes: a
    source's folders too, as a file in a folder left out is never reached)."""
    keep: dict[str, None] = {}  # ordered, no repeats
    for source in LAMBDA_SOURCES:
        parts = source.split("/")
        keep.update(dict.fromkeys("/".join(parts[:end]) for end in range(1, len(parts))))
        keep[source] = None
        if not source.endswith(".py"):
            keep[f"{source}/**"] = None
    return lambda_.Code.from_asset(
        str(stack.root / "src"),
        exclude=["*", *(f"!{path}" for path in keep), "**/__pycache__", "**/*.pyc"],
        ignore_mode=IgnoreMode.GLOB,
    )


def add_functions(stack: LookalikeStack) -> None:
    code = lambda_code(stack)
    env = {**stack.environment(), "LOOKALIKE_HOME": "/tmp/lookalike"}  # the one writable place in Lambda
    stack.functions: dict[str, lambda_.Function] = {}
    stack.function_roles: dict[str, iam.Role] = {}
    for fn in stack.spec.functions:
        construct = fn.name.capitalize()
        log_group = stack.log_group(f"{construct}FunctionLogs")
        role = iam.Role(
            stack,
            f"{construct}FunctionRole",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"lookalike {fn.name} function: {', '.join(fn.grants)}",
        )
        policy = iam.Policy(stack, f"{construct}FunctionPolicy", statements=statements(fn.grants, stack.targets))
        policy.add_statements(
            iam.PolicyStatement(
                sid="Logs",
                actions=["logs:CreateLogStream", "logs:PutLogEvents"],
                resources=[log_group.log_group_arn],
            )
        )
        policy.attach_to_role(role)
        function = lambda_.Function(
            stack,
            f"{construct}Function",
            runtime=LAMBDA_RUNTIME,
            architecture=lambda_.Architecture.ARM_64,
            handler=fn.handler,
            code=code,
            timeout=Duration.seconds(fn.timeout_seconds),
            memory_size=fn.memory_mb,
            environment=env,
            role=role,
            log_group=log_group,
            description=f"lookalike {fn.name}",
        )
        function.node.add_dependency(policy)
        stack.functions[fn.name] = function
        stack.function_roles[fn.name] = role

    # Every route, $connect/$disconnect/$default included, goes to the one websocket function.
    integration = integrations.WebSocketLambdaIntegration("WebSocketIntegration", stack.functions["websocket"])
    for route in stack.spec.websocket_routes:
        stack.websocket_api.add_route(route, integration=integration, return_response=WEBSOCKET_RETURN_RESPONSE)


def add_http_api(stack: LookalikeStack) -> None:
    extra_origins = stack.extra_origins()
    cors = None
    if extra_origins:
        # The page calls /api/* on its own origin through CloudFront and needs no CORS; origins given
        # as context (pages served elsewhere) are allowed explicitly.
        cors = apigw.CorsPreflightOptions(
            allow_origins=extra_origins,
            allow_methods=[apigw.CorsHttpMethod.GET, apigw.CorsHttpMethod.POST],
            allow_headers=["content-type"],
            max_age=Duration.hours(1),
        )
    stack.http_api = apigw.HttpApi(stack, "HttpApi", create_default_stage=False, cors_preflight=cors)
    stack.http_stage = apigw.HttpStage(
        stack,
        "HttpStage",
        http_api=stack.http_api,
        stage_name="$default",
        auto_deploy=True,
        throttle=apigw.ThrottleSettings(rate_limit=API_RATE_LIMIT, burst_limit=API_BURST_LIMIT),
        access_log_settings=AccessLogs(stack.log_group("HttpAccessLogs"), HTTP_ACCESS_LOG),
    )
    for method, path, name in stack.spec.http_routes:
        stack.http_api.add_routes(
            path=path,
            methods=[apigw.HttpMethod(method)],
            integration=integrations.HttpLambdaIntegration(f"{name.capitalize()}Integration", stack.functions[name]),
        )
