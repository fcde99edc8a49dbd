"""The lookalike stack: every resource comes from ``lookalike.deploy.spec.DEPLOYMENT``.

Photo path: page (CloudFront -> site bucket) -> ``POST /api/uploads`` (HTTP API -> ``uploads`` Lambda)
-> presigned POST straight to the private uploads bucket -> WebSocket ``match`` (``websocket`` Lambda)
-> SQS -> Fargate worker -> results pushed back through ``@connections``.  Nothing is public but
CloudFront, the two API endpoints and the presigned POST.
"""

from __future__ import annotations

from pathlib import Path

from aws_cdk import Annotations, Aws, CfnOutput, Duration, IgnoreMode, RemovalPolicy, Stack
from aws_cdk import aws_apigatewayv2 as apigw
from aws_cdk import aws_apigatewayv2_integrations as integrations
from aws_cdk import aws_applicationautoscaling as autoscaling
from aws_cdk import aws_cloudfront as cloudfront
from aws_cdk import aws_cloudfront_origins as origins
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cloudwatch_actions
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecr_assets as ecr_assets
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_deployment as s3deploy
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_sqs as sqs
from constructs import Construct
from grants import Targets, statements

from lookalike.deploy.spec import (
    DEPLOYMENT,
    ENVIRONMENT,
    GALLERIES_PREFIX,
    LAMBDA_SOURCES,
    UPLOADS_PREFIX,
    Deployment,
    static_environment,
)

ROOT = Path(__file__).resolve().parents[2]

#: Never part of the worker image's build context, whatever the repository's .dockerignore says.
DOCKER_EXCLUDES = [
    ".git",
    ".venv",
    "**/__pycache__",
    "**/*.pyc",
    "deploy/aws/cdk.out",
    "deploy/aws/node_modules",
    ".pytest_cache",
    ".ruff_cache",
    "artifacts",
    "var",
    "build",
    "dist",
]

#: Stage throttling (requests or messages per second, and burst), a ceiling on what abuse can cost.
API_RATE_LIMIT = 50
API_BURST_LIMIT = 100

#: The Lambda handlers reply only with post_to_connection, so WebSocket routes have no route
#: responses: AWS then never sends a handler's return value to the client (see docs/deploy-aws.md).
WEBSOCKET_RETURN_RESPONSE = False

_RETENTION = {
    1: logs.RetentionDays.ONE_DAY,
    3: logs.RetentionDays.THREE_DAYS,
    5: logs.RetentionDays.FIVE_DAYS,
    7: logs.RetentionDays.ONE_WEEK,
    14: logs.RetentionDays.TWO_WEEKS,
    30: logs.RetentionDays.ONE_MONTH,
    60: logs.RetentionDays.TWO_MONTHS,
    90: logs.RetentionDays.THREE_MONTHS,
}


def retention(days: int) -> logs.RetentionDays:
    if days not in _RETENTION:
        raise ValueError(f"log retention of {days} days is not one CloudWatch offers here ({sorted(_RETENTION)})")
    return _RETENTION[days]


class LookalikeStack(Stack):
    def __init__(
        self, scope: Construct, construct_id: str, *, spec: Deployment = DEPLOYMENT, root: Path = ROOT, **kwargs
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        if spec.jobs_queue.visibility_timeout_seconds <= spec.worker.job_timeout_seconds:
            raise ValueError("the jobs queue's visibility timeout must exceed the worker's job timeout")
        self.spec = spec
        self.root = root
        self._storage()
        self._queues()
        self._table()
        self._websocket_api()
        self._functions()
        self._http_api()
        self._distribution()
        self._site()
        self._worker()
        self._alarms()
        self._outputs()

    # -- context ---------------------------------------------------------------------------------------

    def _context(self, name: str) -> str:
        value = self.node.try_get_context(name)
        return str(value) if value not in (None, "") else ""

    def _log_group(self, construct_id: str) -> logs.LogGroup:
        return logs.LogGroup(
            self,
            construct_id,
            retention=retention(self.spec.log_retention_days),
            removal_policy=RemovalPolicy.DESTROY,
        )

    # -- storage ---------------------------------------------------------------------------------------

    def _private_bucket(self, construct_id: str, **kwargs) -> s3.Bucket:
        """Private, S3-encrypted, TLS 1.2+ only, unversioned (a deleted photo is gone), deleted with the stack."""
        return s3.Bucket(
            self,
            construct_id,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            encryption=s3.BucketEncryption.S3_MANAGED,
            enforce_ssl=True,
            minimum_tls_version=1.2,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            versioned=False,
            removal_policy=RemovalPolicy.DESTROY,
            auto_delete_objects=False,
            **kwargs,
        )

    def _storage(self) -> None:
        self.uploads_bucket = self._private_bucket(
            "UploadsBucket",
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="ExpireUploads",
                    prefix=UPLOADS_PREFIX,
                    expiration=Duration.days(self.spec.uploads_expire_days),
                    abort_incomplete_multipart_upload_after=Duration.days(1),
                )
            ],
        )
        self.gallery_bucket = self._private_bucket("GalleryBucket")
        self.site_bucket = self._private_bucket("SiteBucket")

    def _queues(self) -> None:
        spec = self.spec
        self.dead_letters = sqs.Queue(
            self,
            "DeadLetterQueue",
            visibility_timeout=Duration.seconds(spec.dead_letters.visibility_timeout_seconds),
            retention_period=Duration.seconds(spec.dead_letters.retention_seconds),
            receive_message_wait_time=Duration.seconds(spec.dead_letters.receive_wait_seconds),
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            removal_policy=RemovalPolicy.DESTROY,
        )
        self.jobs_queue = sqs.Queue(
            self,
            "JobsQueue",
            visibility_timeout=Duration.seconds(spec.jobs_queue.visibility_timeout_seconds),
            retention_period=Duration.seconds(spec.jobs_queue.retention_seconds),
            receive_message_wait_time=Duration.seconds(spec.jobs_queue.receive_wait_seconds),
            dead_letter_queue=sqs.DeadLetterQueue(
                max_receive_count=spec.jobs_queue.max_receives, queue=self.dead_letters
            ),
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            removal_policy=RemovalPolicy.DESTROY,
        )

    def _table(self) -> None:
        table = self.spec.jobs_table
        pitr = self._context("point_in_time_recovery").lower() in ("1", "true", "yes")
        self.table = dynamodb.Table(
            self,
            "JobsTable",
            partition_key=dynamodb.Attribute(name=table.partition_key, type=dynamodb.AttributeType.STRING),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            time_to_live_attribute=table.ttl_attribute,
            encryption=dynamodb.TableEncryption.AWS_MANAGED,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=pitr
            ),
            removal_policy=RemovalPolicy.DESTROY,
        )

    # -- the WebSocket API and the functions -----------------------------------------------------------

    def _websocket_api(self) -> None:
        self.websocket_api = apigw.WebSocketApi(
            self, "WebSocketApi", route_selection_expression=self.spec.websocket_route_selection
        )
        self.websocket_stage = apigw.WebSocketStage(
            self,
            "WebSocketStage",
            web_socket_api=self.websocket_api,
            stage_name=self.spec.websocket_stage,
            auto_deploy=True,
            throttle=apigw.ThrottleSettings(rate_limit=API_RATE_LIMIT, burst_limit=API_BURST_LIMIT),
        )
        self.connections_arn = self.format_arn(
            service="execute-api",
            resource=self.websocket_api.api_id,
            resource_name=f"{self.spec.websocket_stage}/POST/@connections/*",
        )
        self.targets = Targets(
            uploads=self.uploads_bucket,
            gallery=self.gallery_bucket,
            jobs_queue=self.jobs_queue,
            dead_letters=self.dead_letters,
            table=self.table,
            connections_arn=self.connections_arn,
        )

    def environment(self) -> dict[str, str]:
        """The settings every process on AWS gets (``spec.ENVIRONMENT`` plus the limits from the spec)."""
        spec = self.spec
        # ``lookalike gallery push`` publishes versions under galleries/ and points galleries/current.json at
        # the newest; a worker fetches that one and links its thumbnails under /galleries/<version>/.
        gallery_uri = self._context("gallery_uri") or f"s3://{self.gallery_bucket.bucket_name}/{GALLERIES_PREFIX}"
        values = {
            "uploads_bucket": self.uploads_bucket.bucket_name,
            "queue_url": self.jobs_queue.queue_url,
            "dead_letter_queue_url": self.dead_letters.queue_url,
            "jobs_table": self.table.table_name,
            "websocket_endpoint": self.websocket_stage.callback_url,
            "gallery_uri": gallery_uri,
        }
        # thumbnail_url stays unset: the worker derives it from the version of the gallery it fetched.
        env = {ENVIRONMENT[name]: value for name, value in values.items()}
        env.update(static_environment(spec))
        return env

    def _lambda_code(self) -> lambda_.Code:
        """``src/`` with everything but ``LAMBDA_SOURCES`` left out (glob excludes, then re-includes)."""
        keep: list[str] = ["!lookalike"]
        for source in LAMBDA_SOURCES:
            keep.append(f"!{source}")
            if not source.endswith(".py"):
                keep.append(f"!{source}/**")
        return lambda_.Code.from_asset(
            str(self.root / "src"),
            exclude=["*", *keep, "**/__pycache__", "**/*.pyc"],
            ignore_mode=IgnoreMode.GLOB,
        )

    def _functions(self) -> None:
        code = self._lambda_code()
        env = {**self.environment(), "LOOKALIKE_HOME": "/tmp/lookalike"}  # the one writable place in Lambda
        self.functions: dict[str, lambda_.Function] = {}
        self.function_roles: dict[str, iam.Role] = {}
        for fn in self.spec.functions:
            construct = fn.name.capitalize()
            log_group = self._log_group(f"{construct}FunctionLogs")
            role = iam.Role(
                self,
                f"{construct}FunctionRole",
                assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
                description=f"lookalike {fn.name} function: {', '.join(fn.grants)}",
            )
            policy = iam.Policy(self, f"{construct}FunctionPolicy", statements=statements(fn.grants, self.targets))
            policy.add_statements(
                iam.PolicyStatement(
                    sid="Logs",
                    actions=["logs:CreateLogStream", "logs:PutLogEvents"],
                    resources=[log_group.log_group_arn],
                )
            )
            policy.attach_to_role(role)
            function = lambda_.Function(
                self,
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
            self.functions[fn.name] = function
            self.function_roles[fn.name] = role

        # Every route, $connect/$disconnect/$default included, goes to the one websocket function.
        integration = integrations.WebSocketLambdaIntegration("WebSocketIntegration", self.functions["websocket"])
        for route in self.spec.websocket_routes:
            self.websocket_api.add_route(route, integration=integration, return_response=WEBSOCKET_RETURN_RESPONSE)

    def _http_api(self) -> None:
        allowed_origin = self._context("allowed_origin")
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
        self.http_api = apigw.HttpApi(self, "HttpApi", create_default_stage=False, cors_preflight=cors)
        self.http_stage = apigw.HttpStage(
            self,
            "HttpStage",
            http_api=self.http_api,
            stage_name="$default",
            auto_deploy=True,
            throttle=apigw.ThrottleSettings(rate_limit=API_RATE_LIMIT, burst_limit=API_BURST_LIMIT),
        )
        for method, path, name in self.spec.http_routes:
            self.http_api.add_routes(
                path=path,
                methods=[apigw.HttpMethod(method)],
                integration=integrations.HttpLambdaIntegration(f"{name.capitalize()}Integration", self.functions[name]),
            )

    # -- the page: CloudFront in front of the site bucket, the HTTP API and the thumbnails ---------------

    def _distribution(self) -> None:
        spec = self.spec
        oac = cloudfront.S3OriginAccessControl(
            self, "OriginAccessControl", signing=cloudfront.Signing.SIGV4_ALWAYS, description="lookalike buckets"
        )
        site_origin = origins.S3BucketOrigin.with_origin_access_control(self.site_bucket, origin_access_control=oac)
        # The gallery bucket also holds the gallery's vectors: CloudFront may read thumbnails only.  Given a
        # reference instead of the bucket, CDK adds no policy of its own (it would allow every object), and
        # the narrow statement is added below.
        gallery_ref = s3.Bucket.from_bucket_attributes(
            self,
            "GalleryBucketForCloudFront",
            bucket_name=self.gallery_bucket.bucket_name,
            bucket_regional_domain_name=self.gallery_bucket.bucket_regional_domain_name,
        )
        gallery_origin = origins.S3BucketOrigin.with_origin_access_control(gallery_ref, origin_access_control=oac)
        api_origin = origins.HttpOrigin(
            f"{self.http_api.api_id}.execute-api.{Aws.REGION}.{Aws.URL_SUFFIX}",
            protocol_policy=cloudfront.OriginProtocolPolicy.HTTPS_ONLY,
            origin_ssl_protocols=[cloudfront.OriginSslPolicy.TLS_V1_2],
        )
        # API Gateway must see its own Host header; the handlers need the body, the content type and the
        # query string, never cookies.
        api_requests = cloudfront.OriginRequestPolicy(
            self,
            "ApiOriginRequests",
            comment="lookalike /api/*: what the handlers read",
            header_behavior=cloudfront.OriginRequestHeaderBehavior.allow_list("Content-Type", "Accept"),
            query_string_behavior=cloudfront.OriginRequestQueryStringBehavior.all(),
            cookie_behavior=cloudfront.OriginRequestCookieBehavior.none(),
        )
        headers = cloudfront.ResponseHeadersPolicy.SECURITY_HEADERS
        self.distribution = cloudfront.Distribution(
            self,
            "Distribution",
            comment="lookalike",
            default_root_object="index.html",
            price_class=cloudfront.PriceClass.PRICE_CLASS_100,
            http_version=cloudfront.HttpVersion.HTTP2_AND_3,
            default_behavior=cloudfront.BehaviorOptions(
                origin=site_origin,
                viewer_protocol_policy=cloudfront.ViewerProtocolPolicy.REDIRECT_TO_HTTPS,
                allowed_methods=cloudfront.AllowedMethods.ALLOW_GET_HEAD,
                cache_policy=cloudfront.CachePolicy.CACHING_OPTIMIZED,
                response_headers_policy=headers,
            ),
            additional_behaviors={
                "/api/*": cloudfront.BehaviorOptions(
                    origin=api_origin,
                    viewer_protocol_policy=cloudfront.ViewerProtocolPolicy.HTTPS_ONLY,
                    allowed_methods=cloudfront.AllowedMethods.ALLOW_ALL,
                    cache_policy=cloudfront.CachePolicy.CACHING_DISABLED,
                    origin_request_policy=api_requests,
                    response_headers_policy=headers,
                ),
                "/" + spec.gallery_public_pattern: cloudfront.BehaviorOptions(
                    origin=gallery_origin,
                    viewer_protocol_policy=cloudfront.ViewerProtocolPolicy.REDIRECT_TO_HTTPS,
                    allowed_methods=cloudfront.AllowedMethods.ALLOW_GET_HEAD,
                    cache_policy=cloudfront.CachePolicy.CACHING_OPTIMIZED,
                    response_headers_policy=headers,
                ),
            },
        )
        self.distribution_arn = self.format_arn(
            service="cloudfront", region="", resource="distribution", resource_name=self.distribution.distribution_id
        )
        Annotations.of(self.distribution).acknowledge_warning(
            "@aws-cdk/aws-cloudfront-origins:updateImportedBucketPolicyOac",
            "the gallery bucket's policy for CloudFront is written below, for thumbnails only",
        )
        self.gallery_bucket.add_to_resource_policy(
            iam.PolicyStatement(
                sid="CloudFrontReadsThumbnailsOnly",
                actions=["s3:GetObject"],
                resources=[self.gallery_bucket.arn_for_objects(spec.gallery_public_pattern)],
                principals=[iam.ServicePrincipal("cloudfront.amazonaws.com")],
                conditions={"StringEquals": {"AWS:SourceArn": self.distribution_arn}},
            )
        )
        # Browsers POST photos straight to the uploads bucket, from the page's origin only.
        self.page_origin = self._context("allowed_origin") or f"https://{self.distribution.distribution_domain_name}"
        self.uploads_bucket.add_cors_rule(
            allowed_methods=[s3.HttpMethods.POST], allowed_origins=[self.page_origin], max_age=3000
        )

    def _site(self) -> None:
        config = s3deploy.Source.json_data("config.json", {"websocket": self.websocket_stage.url, "api": ""})
        log_group = self._log_group("PageDeploymentLogs")
        deployment = s3deploy.BucketDeployment(
            self,
            "Page",
            destination_bucket=self.site_bucket,
            sources=[s3deploy.Source.asset(str(self.root / "src" / "lookalike" / "web" / "static")), config],
            distribution=self.distribution,
            distribution_paths=["/*"],
            prune=True,
            retain_on_delete=False,  # the page's files go with the stack
            memory_limit=256,
            log_group=log_group,
        )
        self._narrow_page_deployment_role(deployment, log_group)

    def _narrow_page_deployment_role(self, deployment: s3deploy.BucketDeployment, log_group: logs.LogGroup) -> None:
        """CDK's page-copying function may write logs to its own log group only (not logs:* on every group,
        which the managed AWSLambdaBasicExecutionRole gives), and invalidate this distribution only (not
        ``*``).  Its S3 grants are CDK's own, on the site bucket and the CDK assets bucket only."""
        role = deployment.handler_role
        role.node.default_child.add_property_deletion_override("ManagedPolicyArns")
        role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="Logs", actions=["logs:CreateLogStream", "logs:PutLogEvents"], resources=[log_group.log_group_arn]
            )
        )
        policy = role.node.find_child("DefaultPolicy")
        statements_ = self.resolve(policy.document)["Statement"]
        for index, statement in enumerate(statements_):
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            if any(action.startswith("cloudfront:") for action in actions):
                policy.node.default_child.add_property_override(
                    f"PolicyDocument.Statement.{index}.Resource", self.distribution_arn
                )

    # -- the worker: Fargate tasks in public subnets (no NAT), scaled by the queue -------------------------

    def _worker(self) -> None:
        worker = self.spec.worker
        self.vpc = ec2.Vpc(
            self,
            "Vpc",
            max_azs=2,
            nat_gateways=0,
            subnet_configuration=[
                ec2.SubnetConfiguration(name="public", subnet_type=ec2.SubnetType.PUBLIC, cidr_mask=24)
            ],
            restrict_default_security_group=False,  # nothing is placed in the default group
        )
        cluster = ecs.Cluster(self, "Cluster", vpc=self.vpc, container_insights_v2=ecs.ContainerInsights.DISABLED)
        self.worker_task_role = iam.Role(
            self,
            "WorkerTaskRole",
            assumed_by=iam.ServicePrincipal("ecs-tasks.amazonaws.com"),
            description=f"lookalike worker: {', '.join(worker.grants)}",
        )
        iam.Policy(
            self, "WorkerTaskPolicy", statements=statements(worker.grants, self.targets), roles=[self.worker_task_role]
        )
        task = ecs.FargateTaskDefinition(
            self,
            "WorkerTask",
            cpu=worker.cpu,
            memory_limit_mib=worker.memory_mb,
            task_role=self.worker_task_role,
            runtime_platform=ecs.RuntimePlatform(
                cpu_architecture=ecs.CpuArchitecture.X86_64,
                operating_system_family=ecs.OperatingSystemFamily.LINUX,
            ),
        )
        self.worker_task = task
        self.worker_container = task.add_container(
            "worker",
            image=ecs.ContainerImage.from_asset(
                str(self.root),
                file="Dockerfile",
                exclude=DOCKER_EXCLUDES,
                platform=ecr_assets.Platform.LINUX_AMD64,
            ),
            command=["lookalike", "worker"],
            environment={**self.environment(), "AWS_REGION": Aws.REGION, "AWS_DEFAULT_REGION": Aws.REGION},
            health_check=ecs.HealthCheck(
                command=["CMD", *worker.health_command],
                interval=Duration.seconds(30),
                timeout=Duration.seconds(10),
                retries=3,
                start_period=Duration.seconds(120),  # the first gallery download happens before the first beat
            ),
            stop_timeout=Duration.seconds(worker.stop_timeout_seconds),
            logging=ecs.LogDrivers.aws_logs(stream_prefix="worker", log_group=self._log_group("WorkerLogs")),
            essential=True,
        )
        # Outbound HTTPS only (AWS APIs and the image registry); DNS and the task metadata endpoint are
        # link-local and not filtered by security groups.  No inbound rule at all.
        security_group = ec2.SecurityGroup(
            self, "WorkerSecurityGroup", vpc=self.vpc, allow_all_outbound=False, description="lookalike workers"
        )
        security_group.add_egress_rule(ec2.Peer.any_ipv4(), ec2.Port.tcp(443), "HTTPS to AWS APIs")
        self.service = ecs.FargateService(
            self,
            "WorkerService",
            cluster=cluster,
            task_definition=task,
            desired_count=0,
            assign_public_ip=True,
            vpc_subnets=ec2.SubnetSelection(subnet_type=ec2.SubnetType.PUBLIC),
            security_groups=[security_group],
            min_healthy_percent=0,
            max_healthy_percent=200,
            circuit_breaker=ecs.DeploymentCircuitBreaker(rollback=True),
            enable_execute_command=False,
        )
        self._scaling()

    def _scaling(self) -> None:
        """Exact task counts by jobs waiting *or in progress*: a job being worked on is invisible in the
        queue, and scaling on visible messages alone would stop the task that is working on it."""
        worker = self.spec.worker
        minute = Duration.minutes(1)
        self.backlog = cloudwatch.MathExpression(
            expression="visible + in_flight",
            using_metrics={
                "visible": self.jobs_queue.metric_approximate_number_of_messages_visible(
                    period=minute, statistic="Maximum"
                ),
                "in_flight": self.jobs_queue.metric_approximate_number_of_messages_not_visible(
                    period=minute, statistic="Maximum"
                ),
            },
            label="jobs waiting or in progress",
            period=minute,
        )
        steps = worker.scaling_steps
        intervals = [
            autoscaling.ScalingInterval(
                lower=messages, upper=steps[i + 1][0] if i + 1 < len(steps) else None, change=tasks
            )
            for i, (messages, tasks) in enumerate(steps)
        ]
        scaling = self.service.auto_scale_task_count(min_capacity=worker.min_tasks, max_capacity=worker.max_tasks)
        scaling.scale_on_metric(
            "ScaleOnJobs",
            metric=self.backlog,
            scaling_steps=intervals,
            adjustment_type=autoscaling.AdjustmentType.EXACT_CAPACITY,
            metric_aggregation_type=autoscaling.MetricAggregationType.MAXIMUM,
            cooldown=minute,
            evaluation_periods=1,
        )

    # -- alarms and outputs ------------------------------------------------------------------------------

    def _alarms(self) -> None:
        """Dead letters: jobs that failed every delivery.  Workers take them off the queue to fail their
        jobs, so a dead letter may be visible only briefly: the alarm counts receives too."""
        minute = Duration.minutes(1)
        dead = cloudwatch.MathExpression(
            expression="FILL(visible, 0) + FILL(received, 0)",
            using_metrics={
                "visible": self.dead_letters.metric_approximate_number_of_messages_visible(
                    period=minute, statistic="Maximum"
                ),
                "received": self.dead_letters.metric_number_of_messages_received(period=minute, statistic="Sum"),
            },
            label="dead letters",
            period=minute,
        )
        self.dead_letter_alarm = cloudwatch.Alarm(
            self,
            "DeadLettersAlarm",
            alarm_description="lookalike: a job failed every delivery and went to the dead-letter queue",
            metric=dead,
            threshold=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            evaluation_periods=1,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        email = self._context("alarm_email")
        if email:
            topic = sns.Topic(self, "AlarmTopic", display_name="lookalike alarms", enforce_ssl=True)
            topic.add_subscription(subscriptions.EmailSubscription(email))
            self.dead_letter_alarm.add_alarm_action(cloudwatch_actions.SnsAction(topic))

    def _outputs(self) -> None:
        outputs = {
            "PageUrl": f"https://{self.distribution.distribution_domain_name}/",
            "HttpApiUrl": self.http_stage.url,
            "WebSocketUrl": self.websocket_stage.url,
            "WebSocketCallbackUrl": self.websocket_stage.callback_url,
            "UploadsBucketName": self.uploads_bucket.bucket_name,
            "GalleryBucketName": self.gallery_bucket.bucket_name,
            "SiteBucketName": self.site_bucket.bucket_name,
            "JobsQueueUrl": self.jobs_queue.queue_url,
            "DeadLetterQueueUrl": self.dead_letters.queue_url,
            "JobsTableName": self.table.table_name,
            "DistributionId": self.distribution.distribution_id,
        }
        for name, value in outputs.items():
            CfnOutput(self, name, value=value)
