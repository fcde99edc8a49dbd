"""The worker: ``lookalike worker`` on ECS Fargate in public subnets (no NAT gateways), outbound HTTPS
only, scaled from zero by the jobs waiting or in progress."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aws_cdk import Aws, Duration
from aws_cdk import aws_applicationautoscaling as autoscaling
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cloudwatch_actions
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
        assign_public_ip=True,
        vpc_subnets=ec2.SubnetSelection(subnet_type=ec2.SubnetType.PUBLIC),
        security_groups=[security_group],
        min_healthy_percent=0,
        max_healthy_percent=200,
        circuit_breaker=ecs.DeploymentCircuitBreaker(rollback=True),
        enable_execute_command=False,
    )
    # No DesiredCount: CloudFormation would set the service back to it on every stack update, stopping
    # the workers that scaling started.  Without it a new service starts one task (which waits for a
    # gallery if none is pushed yet), and the idle alarm takes it to zero within minutes.
    stack.service.node.default_child.add_property_deletion_override("DesiredCount")
    add_scaling(stack)


#: The backlog (jobs waiting or in progress) is a whole number.  Both scaling alarms compare it with
#: 0.5 and every step bound sits half-way between two whole numbers, so no backlog ever falls on a
#: threshold or a bound: which side of a bound AWS counts as inclusive (the lower bound above the
#: threshold, the upper bound below it) can never pick another step.
THRESHOLD = 0.5


def bound(messages: int) -> float:
    """Where a step for backlogs from ``messages`` begins (``messages - 0.5``), relative to the threshold."""
    return messages - 0.5 - THRESHOLD


def check_scaling_steps(steps: tuple[tuple[int, int], ...], max_tasks: int) -> None:
    """``Worker.scaling_steps`` as ``(backlog at least, tasks)``: ``(0, tasks when idle)`` first, then
    ``(1, >= 1)`` (a single waiting job gets a worker), backlogs rising, tasks never falling."""
    backlogs = [messages for messages, _ in steps]
    tasks = [count for _, count in steps]
    if len(steps) < 2 or backlogs[0] != 0 or backlogs[1] != 1:
        raise ValueError(f"scaling steps must start (0, idle tasks), (1, tasks): {steps}")
    if any(a >= b for a, b in zip(backlogs, backlogs[1:])):
        raise ValueError(f"scaling steps' backlogs must rise: {steps}")
    if tasks[1] < 1 or tasks != sorted(tasks) or tasks[-1] > max_tasks:
        raise ValueError(f"scaling steps' tasks must be >= 1 from a backlog of 1, never fall, at most {max_tasks}")


def add_scaling(stack: LookalikeStack) -> None:
    """Exact task counts by jobs waiting *or in progress*: a job being worked on is invisible in the
    queue, and scaling on visible messages alone would stop the task that is working on it.

    Two alarms that can never be in alarm together: *idle* (backlog < 0.5, i.e. 0) sets the idle count,
    *busy* (backlog > 0.5, i.e. >= 1) sets the count of the step the backlog is in.  An alarm with
    Application Auto Scaling actions invokes them every minute it stays in alarm, so the count follows
    the backlog; with no data (SQS publishes nothing yet) neither alarm acts and the count stays."""
    worker = stack.spec.worker
    steps = worker.scaling_steps
    check_scaling_steps(steps, worker.max_tasks)
    stack.backlog = backlog_metric(stack)
    scaling = stack.service.auto_scale_task_count(min_capacity=worker.min_tasks, max_capacity=worker.max_tasks)
    target = scaling.node.find_child("Target")
    idle = scaling_action(stack, "ScaleToIdle", target)
    idle.add_adjustment(adjustment=steps[0][1], upper_bound=bound(1))  # backlog in (-inf, 0.5]: 0
    busy = scaling_action(stack, "ScaleOnJobs", target)
    for i, (messages, tasks) in enumerate(steps[1:], start=1):  # backlog in [messages - 0.5, next - 0.5)
        upper = bound(steps[i + 1][0]) if i + 1 < len(steps) else None
        busy.add_adjustment(adjustment=tasks, lower_bound=bound(messages), upper_bound=upper)
    comparisons = {
        "ScaleToIdleAlarm": (idle, cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD, "no job waiting or running"),
        "ScaleOnJobsAlarm": (busy, cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD, "jobs waiting or running"),
    }
    stack.scaling_alarms = {}
    for construct_id, (action, comparison, what) in comparisons.items():
        alarm = cloudwatch.Alarm(
            stack,
            construct_id,
            alarm_description=f"lookalike workers: {what} (sets the task count)",
            metric=stack.backlog,
            threshold=THRESHOLD,
            comparison_operator=comparison,
            evaluation_periods=1,
            treat_missing_data=cloudwatch.TreatMissingData.MISSING,
        )
        alarm.add_alarm_action(cloudwatch_actions.ApplicationScalingAction(action))
        stack.scaling_alarms[construct_id] = alarm


def backlog_metric(stack: LookalikeStack) -> cloudwatch.MathExpression:
    """Jobs waiting + jobs in progress.  SQS reports the in-flight count only while there are messages
    in flight (and the oldest message's age only while one waits): each term is filled with 0 where
    it is missing, or a lone waiting job (visible 1, in flight missing) would add up to no data and
    never start a worker.  With no data at all (a queue idle for 6 hours) there is nothing to fill."""
    minute = Duration.minutes(1)
    return cloudwatch.MathExpression(
        expression="FILL(visible, 0) + FILL(in_flight, 0)",
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


def scaling_action(stack: LookalikeStack, construct_id: str, target: Any) -> autoscaling.StepScalingAction:
    return autoscaling.StepScalingAction(
        stack,
        construct_id,
        scaling_target=target,
        adjustment_type=autoscaling.AdjustmentType.EXACT_CAPACITY,
        metric_aggregation_type=autoscaling.MetricAggregationType.MAXIMUM,
        cooldown=Duration.minutes(1),
    )
