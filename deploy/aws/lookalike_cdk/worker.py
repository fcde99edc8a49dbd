"""The worker: ``lookalike worker`` on ECS Fargate in public subnets (no NAT gateways), outbound HTTPS
only, scaled from zero by the jobs waiting or in progress."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aws_cdk import Aws, Duration
from aws_cdk import aws_applicationautoscaling as autoscaling
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecr_assets as ecr_assets
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_iam as iam

from .grants import statements

if TYPE_CHECKING:
    from .stack import LookalikeStack

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


def add_worker(stack: LookalikeStack) -> None:
    worker = stack.spec.worker
    stack.vpc = ec2.Vpc(
        stack,
        "Vpc",
        max_azs=2,
        nat_gateways=0,
        subnet_configuration=[ec2.SubnetConfiguration(name="public", subnet_type=ec2.SubnetType.PUBLIC, cidr_mask=24)],
        restrict_default_security_group=False,  # nothing is placed in the default group
    )
    cluster = ecs.Cluster(stack, "Cluster", vpc=stack.vpc, container_insights_v2=ecs.ContainerInsights.DISABLED)
    stack.worker_task_role = iam.Role(
        stack,
        "WorkerTaskRole",
        assumed_by=iam.ServicePrincipal("ecs-tasks.amazonaws.com"),
        description=f"lookalike worker: {', '.join(worker.grants)}",
    )
    iam.Policy(
        stack, "WorkerTaskPolicy", statements=statements(worker.grants, stack.targets), roles=[stack.worker_task_role]
    )
    task = ecs.FargateTaskDefinition(
        stack,
        "WorkerTask",
        cpu=worker.cpu,
        memory_limit_mib=worker.memory_mb,
        task_role=stack.worker_task_role,
        runtime_platform=ecs.RuntimePlatform(
            cpu_architecture=ecs.CpuArchitecture.X86_64,
            operating_system_family=ecs.OperatingSystemFamily.LINUX,
        ),
    )
    stack.worker_task = task
    stack.worker_container = task.add_container(
        "worker",
        image=ecs.ContainerImage.from_asset(
            str(stack.root),
            file="Dockerfile",
            exclude=DOCKER_EXCLUDES,
            platform=ecr_assets.Platform.LINUX_AMD64,
        ),
        command=["lookalike", "worker"],
        environment={**stack.environment(), "AWS_REGION": Aws.REGION, "AWS_DEFAULT_REGION": Aws.REGION},
        health_check=ecs.HealthCheck(
            command=["CMD", *worker.health_command],
            interval=Duration.seconds(30),
            timeout=Duration.seconds(10),
            retries=3,
            start_period=Duration.seconds(120),  # the first gallery download happens before the first beat
        ),
        stop_timeout=Duration.seconds(worker.stop_timeout_seconds),
        logging=ecs.LogDrivers.aws_logs(stream_prefix="worker", log_group=stack.log_group("WorkerLogs")),
        essential=True,
    )
    # Outbound HTTPS only (AWS APIs and the image registry); DNS and the task metadata endpoint are
    # link-local and not filtered by security groups.  No inbound rule at all.
    security_group = ec2.SecurityGroup(
        stack, "WorkerSecurityGroup", vpc=stack.vpc, allow_all_outbound=False, description="lookalike workers"
    )
    security_group.add_egress_rule(ec2.Peer.any_ipv4(), ec2.Port.tcp(443), "HTTPS to AWS APIs")
    stack.service = ecs.FargateService(
        stack,
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
    add_scaling(stack)


def add_scaling(stack: LookalikeStack) -> None:
    """Exact task counts by jobs waiting *or in progress*: a job being worked on is invisible in the
    queue, and scaling on visible messages alone would stop the task that is working on it."""
    worker = stack.spec.worker
    minute = Duration.minutes(1)
    stack.backlog = cloudwatch.MathExpression(
        expression="visible + in_flight",
        using_metrics={
            "visible": stack.jobs_queue.metric_approximate_number_of_messages_visible(
                period=minute, statistic="Maximum"
            ),
            "in_flight": stack.jobs_queue.metric_approximate_number_of_messages_not_visible(
                period=minute, statistic="Maximum"
            ),
        },
        label="jobs waiting or in progress",
        period=minute,
    )
    steps = worker.scaling_steps
    intervals = [
        autoscaling.ScalingInterval(lower=messages, upper=steps[i + 1][0] if i + 1 < len(steps) else None, change=tasks)
        for i, (messages, tasks) in enumerate(steps)
    ]
    scaling = stack.service.auto_scale_task_count(min_capacity=worker.min_tasks, max_capacity=worker.max_tasks)
    scaling.scale_on_metric(
        "ScaleOnJobs",
        metric=stack.backlog,
        scaling_steps=intervals,
        adjustment_type=autoscaling.AdjustmentType.EXACT_CAPACITY,
        metric_aggregation_type=autoscaling.MetricAggregationType.MAXIMUM,
        cooldown=minute,
        evaluation_periods=1,
    )
