"""The APIs and their functions: the WebSocket API (live channel), three Lambda functions with exactly
their grants, and the HTTP API (presign, job lookup)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aws_cdk import Duration, IgnoreMode
from aws_cdk import aws_apigatewayv2 as apigw
from aws_cdk import aws_apigatewayv2_integrations as integrations
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_

from lookalike.deploy.spec import LAMBDA_SOURCES

from .grants import Targets, statements

if TYPE_CHECKING:
    from .stack import LookalikeStack

#: Stage throttling (requests or messages per second, and burst), a ceiling on what abuse can cost.
API_RATE_LIMIT = 50
API_BURST_LIMIT = 100

#: The Lambda handlers reply only with post_to_connection, so WebSocket routes have no route
#: responses: AWS then never sends a handler's return value to the client (see docs/deploy-aws.md).
WEBSOCKET_RETURN_RESPONSE = False


def add_websocket_api(stack: LookalikeStack) -> None:
    stack.websocket_api = apigw.WebSocketApi(
        stack, "WebSocketApi", route_selection_expression=stack.spec.websocket_route_selection
    )
    stack.websocket_stage = apigw.WebSocketStage(
        stack,
        "WebSocketStage",
        web_socket_api=stack.websocket_api,
        stage_name=stack.spec.websocket_stage,
        auto_deploy=True,
        throttle=apigw.ThrottleSettings(rate_limit=API_RATE_LIMIT, burst_limit=API_BURST_LIMIT),
    )
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
    """``src/`` with everything but ``LAMBDA_SOURCES`` left out (glob excludes, then re-includes)."""
    keep: list[str] = ["!lookalike"]
    for source in LAMBDA_SOURCES:
        keep.append(f"!{source}")
        if not source.endswith(".py"):
            keep.append(f"!{source}/**")
    return lambda_.Code.from_asset(
        str(stack.root / "src"),
        exclude=["*", *keep, "**/__pycache__", "**/*.pyc"],
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
            runtime=lambda_.Runtime.PYTHON_3_12,
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
    allowed_origin = stack.context("allowed_origin")
    cors = None
    if allowed_origin:
        # The page calls /api/* on its own origin through CloudFront and needs no CORS; an origin
        # given as context (a page served elsewhere) is allowed explicitly.
        cors = apigw.CorsPreflightOptions(
            allow_origins=[allowed_origin],
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
    )
    for method, path, name in stack.spec.http_routes:
        stack.http_api.add_routes(
            path=path,
            methods=[apigw.HttpMethod(method)],
            integration=integrations.HttpLambdaIntegration(f"{name.capitalize()}Integration", stack.functions[name]),
        )
