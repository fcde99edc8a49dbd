"""The lookalike stack: every resource comes from ``lookalike.aws.spec.DEPLOYMENT``.

Photo path: page (CloudFront -> site bucket) -> ``POST /api/uploads`` (HTTP API -> ``uploads`` Lambda)
-> presigned POST straight to the private uploads bucket -> WebSocket ``match`` (``websocket`` Lambda)
-> SQS -> Fargate worker -> results pushed back through ``@connections``.  Nothing is public but
CloudFront, the two API endpoints and the presigned POST.
"""

from __future__ import annotations

from pathlib import Path

from aws_cdk import CfnOutput, Duration, RemovalPolicy, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cloudwatch_actions
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from lookalike.aws.spec import (
    DEPLOYMENT,
    ENVIRONMENT,
    GALLERIES_PREFIX,
    UPLOADS_PREFIX,
    Deployment,
    Queue,
    static_environment,
)

from . import api, web, worker

ROOT = Path(__file__).resolve().parents[3]

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
        self._refuse_removed_context()
        if spec.jobs_queue.visibility_timeout_seconds <= spec.worker.job_timeout_seconds:
            raise ValueError("the jobs queue's visibility timeout must exceed the worker's job timeout")
        self.spec = spec
        self.root = root
        self._storage()
        self._queues()
        self._table()
        api.add_websocket_api(self)
        api.add_functions(self)
        api.add_http_api(self)
        web.add_distribution(self)
        web.add_site(self)
        worker.add_worker(self)
        self._alarms()
        self._outputs()

    # -- context ---------------------------------------------------------------------------------------

    def _refuse_removed_context(self) -> None:
        if self.context("gallery_uri"):
            raise ValueError(
                "-c gallery_uri is not supported: workers read the gallery, and CloudFront serves its thumbnails, "
                "from this stack's own gallery bucket only. Publish the gallery there instead: "
                "lookalike gallery push s3://<GalleryBucketName>/galleries/ --gallery DIR (make deploy-aws does)."
            )

    def context(self, name: str) -> str:
        value = self.node.try_get_context(name)
        return str(value) if value not in (None, "") else ""

    def extra_origins(self) -> list[str]:
        """``-c allowed_origin=https://a.example,https://b.example``: pages served elsewhere."""
        return [o.strip().rstrip("/") for o in self.context("allowed_origin").split(",") if o.strip()]

    def log_group(self, construct_id: str) -> logs.LogGroup:
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

    def _queue(self, construct_id: str, queue: Queue, dead_letters: sqs.Queue | None = None) -> sqs.Queue:
        """A queue of the spec: SQS-encrypted, TLS only, deleted with the stack; with ``dead_letters``, a
        message moves there after ``queue.max_receives`` receives."""
        return sqs.Queue(
            self,
            construct_id,
            visibility_timeout=Duration.seconds(queue.visibility_timeout_seconds),
            retention_period=Duration.seconds(queue.retention_seconds),
            receive_message_wait_time=Duration.seconds(queue.receive_wait_seconds),
            dead_letter_queue=sqs.DeadLetterQueue(max_receive_count=queue.max_receives, queue=dead_letters)
            if dead_letters is not None
            else None,
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            removal_policy=RemovalPolicy.DESTROY,
        )

    def _queues(self) -> None:
        self.dead_letters = self._queue("DeadLetterQueue", self.spec.dead_letters)
        self.jobs_queue = self._queue("JobsQueue", self.spec.jobs_queue, dead_letters=self.dead_letters)

    def _table(self) -> None:
        table = self.spec.jobs_table
        pitr = self.context("point_in_time_recovery").lower() in ("1", "true", "yes")
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

    def environment(self) -> dict[str, str]:
        """The settings every process on AWS gets (``spec.ENVIRONMENT`` plus the limits from the spec)."""
        spec = self.spec
        # ``lookalike gallery push`` publishes versions under galleries/ and points galleries/current.json at
        # the newest; a worker fetches that one and links its thumbnails and aligned faces under
        # /galleries/<version>/, which CloudFront serves from the same bucket.
        gallery_uri = f"s3://{self.gallery_bucket.bucket_name}/{GALLERIES_PREFIX}"
        values = {
            "uploads_bucket": self.uploads_bucket.bucket_name,
            "queue_url": self.jobs_queue.queue_url,
            "dead_letter_queue_url": self.dead_letters.queue_url,
            "jobs_table": self.table.table_name,
            "websocket_endpoint": self.websocket_stage.callback_url,
            "gallery_uri": gallery_uri,
        }
        # thumbnail_url and aligned_url stay unset: the worker derives them from the version of the gallery it
        # fetched.
        env = {ENVIRONMENT[name]: value for name, value in values.items()}
        env.update(static_environment(spec))
        return env

    # -- alarms and outputs ------------------------------------------------------------------------------

    def _alarms(self) -> None:
        alarms = [self._dead_letter_alarm(), self._oldest_job_alarm()]
        email = self.context("alarm_email")
        if email:
            topic = sns.Topic(self, "AlarmTopic", display_name="lookalike alarms", enforce_ssl=True)
            topic.add_subscription(subscriptions.EmailSubscription(email))
            for alarm in alarms:
                alarm.add_alarm_action(cloudwatch_actions.SnsAction(topic))

    def _dead_letter_alarm(self) -> cloudwatch.Alarm:
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
        return self.dead_letter_alarm

    def _oldest_job_alarm(self) -> cloudwatch.Alarm:
        """Work stuck: the oldest job in the queue has waited too long (no worker starts, none can fetch the
        gallery, or they cannot keep up).  Dead letters come only after three deliveries; a job that no
        worker ever receives never gets there."""
        seconds = self.spec.oldest_job_alarm_seconds
        self.oldest_job_alarm = cloudwatch.Alarm(
            self,
            "OldestJobAlarm",
            alarm_description=f"lookalike: a job has waited {seconds} s or more in the queue (no worker takes jobs)",
            metric=self.jobs_queue.metric_approximate_age_of_oldest_message(
                period=Duration.minutes(1), statistic="Maximum"
            ),
            threshold=seconds,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            evaluation_periods=1,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        return self.oldest_job_alarm

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
