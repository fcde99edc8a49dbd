"""The page: CloudFront in front of the site bucket, the HTTP API (``/api/*``) and the gallery's
thumbnails, with origin access control for both buckets; the page's files and its ``config.json``."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from aws_cdk import Annotations, Aws, Duration, Fn
from aws_cdk import aws_cloudfront as cloudfront
from aws_cdk import aws_cloudfront_origins as origins
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_deployment as s3deploy

from lookalike.aws.spec import ENVIRONMENT

if TYPE_CHECKING:
    from .stack import LookalikeStack


def add_distribution(stack: LookalikeStack) -> None:
    spec = stack.spec
    site_origin, gallery_origin, api_origin, api_requests = add_origins(stack)
    headers = cloudfront.ResponseHeadersPolicy.SECURITY_HEADERS
    stack.distribution = cloudfront.Distribution(
        stack,
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
                response_headers_policy=gallery_headers(stack),
            ),
        },
    )
    allow_distribution(stack)


def gallery_headers(stack: LookalikeStack) -> cloudfront.IResponseHeadersPolicy:
    """The gallery's images' headers.  The page draws them on a canvas (the share card), which a
    cross-origin image without CORS would taint: from this distribution's own page they are same-origin
    and need nothing; pages served elsewhere (``-c allowed_origin=...``) are allowed by CORS, with the
    same security headers as CloudFront's managed policy."""
    extra_origins = stack.extra_origins()
    if not extra_origins:
        return cloudfront.ResponseHeadersPolicy.SECURITY_HEADERS
    return cloudfront.ResponseHeadersPolicy(
        stack,
        "GalleryImagesHeaders",
        comment="lookalike gallery images: security headers, CORS for the pages served elsewhere",
        cors_behavior=cloudfront.ResponseHeadersCorsBehavior(
            access_control_allow_origins=extra_origins,
            access_control_allow_methods=["GET", "HEAD"],
            access_control_allow_headers=["*"],  # at least one is required; images are simple GETs
            access_control_allow_credentials=False,
            access_control_max_age=Duration.hours(1),
            origin_override=True,
        ),
        security_headers_behavior=cloudfront.ResponseSecurityHeadersBehavior(
            content_type_options=cloudfront.ResponseHeadersContentTypeOptions(override=True),
            frame_options=cloudfront.ResponseHeadersFrameOptions(
                frame_option=cloudfront.HeadersFrameOption.SAMEORIGIN, override=False
            ),
            referrer_policy=cloudfront.ResponseHeadersReferrerPolicy(
                referrer_policy=cloudfront.HeadersReferrerPolicy.STRICT_ORIGIN_WHEN_CROSS_ORIGIN, override=False
            ),
            strict_transport_security=cloudfront.ResponseHeadersStrictTransportSecurity(
                access_control_max_age=Duration.days(365), override=False
            ),
            xss_protection=cloudfront.ResponseHeadersXSSProtection(protection=True, mode_block=True, override=False),
        ),
    )


def allow_distribution(stack: LookalikeStack) -> None:
    """What the distribution may read (the faces' JPEGs of the gallery bucket: thumbnails and aligned faces),
    and the page origins it makes."""
    spec = stack.spec
    stack.distribution_arn = stack.format_arn(
        service="cloudfront", region="", resource="distribution", resource_name=stack.distribution.distribution_id
    )
    Annotations.of(stack.distribution).acknowledge_warning(
        "@aws-cdk/aws-cloudfront-origins:updateImportedBucketPolicyOac",
        "the gallery bucket's policy for CloudFront is written below, for the faces' JPEGs only",
    )
    stack.gallery_bucket.add_to_resource_policy(
        iam.PolicyStatement(
            sid="CloudFrontReadsThumbnailsOnly",
            actions=["s3:GetObject"],
            resources=[stack.gallery_bucket.arn_for_objects(spec.gallery_public_pattern)],
            principals=[iam.ServicePrincipal("cloudfront.amazonaws.com")],
            conditions={"StringEquals": {"AWS:SourceArn": stack.distribution_arn}},
        )
    )
    # Browsers POST photos straight to the uploads bucket and open the WebSocket from the page's origins
    # only: this distribution's, and those given as context.
    stack.page_origin = f"https://{stack.distribution.distribution_domain_name}"
    stack.page_origins = [stack.page_origin, *stack.extra_origins()]
    stack.uploads_bucket.add_cors_rule(
        allowed_methods=[s3.HttpMethods.POST], allowed_origins=stack.page_origins, max_age=3000
    )
    stack.functions["websocket"].add_environment(ENVIRONMENT["websocket_origins"], Fn.join(",", stack.page_origins))


def add_origins(
    stack: LookalikeStack,
) -> tuple[cloudfront.IOrigin, cloudfront.IOrigin, cloudfront.IOrigin, cloudfront.OriginRequestPolicy]:
    """The distribution's origins (the site bucket, the gallery bucket's thumbnails, the HTTP API) and
    what CloudFront passes on to the API."""
    oac = cloudfront.S3OriginAccessControl(
        stack, "OriginAccessControl", signing=cloudfront.Signing.SIGV4_ALWAYS, description="lookalike buckets"
    )
    site_origin = origins.S3BucketOrigin.with_origin_access_control(stack.site_bucket, origin_access_control=oac)
    # The gallery bucket also holds the gallery's vectors: CloudFront may read the faces' JPEGs only.  Given a
    # reference instead of the bucket, CDK adds no policy of its own (it would allow every object), and
    # the narrow statement is added by allow_distribution.
    gallery_ref = s3.Bucket.from_bucket_attributes(
        stack,
        "GalleryBucketForCloudFront",
        bucket_name=stack.gallery_bucket.bucket_name,
        bucket_regional_domain_name=stack.gallery_bucket.bucket_regional_domain_name,
    )
    gallery_origin = origins.S3BucketOrigin.with_origin_access_control(gallery_ref, origin_access_control=oac)
    api_origin = origins.HttpOrigin(
        f"{stack.http_api.api_id}.execute-api.{Aws.REGION}.{Aws.URL_SUFFIX}",
        protocol_policy=cloudfront.OriginProtocolPolicy.HTTPS_ONLY,
        origin_ssl_protocols=[cloudfront.OriginSslPolicy.TLS_V1_2],
    )
    # API Gateway must see its own Host header; the handlers need the body, the content type and the
    # query string, never cookies.
    api_requests = cloudfront.OriginRequestPolicy(
        stack,
        "ApiOriginRequests",
        comment="lookalike /api/*: what the handlers read",
        header_behavior=cloudfront.OriginRequestHeaderBehavior.allow_list("Content-Type", "Accept"),
        query_string_behavior=cloudfront.OriginRequestQueryStringBehavior.all(),
        cookie_behavior=cloudfront.OriginRequestCookieBehavior.none(),
    )
    return site_origin, gallery_origin, api_origin, api_requests


def site_layout(static: Path) -> Path:
    """The page's files laid out as ``lookalike serve`` serves them: ``/index.html`` and ``/static/*``
    (the page links ``/static/app.js``), staged in a new directory for the asset."""
    out = Path(tempfile.mkdtemp(prefix="lookalike-site-"))
    shutil.copytree(static, out / "static")
    shutil.copy2(static / "index.html", out / "index.html")
    return out


def add_site(stack: LookalikeStack) -> None:
    config = s3deploy.Source.json_data("config.json", {"websocket": stack.websocket_stage.url, "api": ""})
    site = site_layout(stack.root / "src" / "lookalike" / "web" / "static")
    log_group = stack.log_group("PageDeploymentLogs")
    deployment = s3deploy.BucketDeployment(
        stack,
        "Page",
        destination_bucket=stack.site_bucket,
        sources=[s3deploy.Source.asset(str(site)), config],
        distribution=stack.distribution,
        distribution_paths=["/*"],
        prune=True,
        retain_on_delete=False,  # the page's files go with the stack
        memory_limit=256,
        log_group=log_group,
    )
    narrow_page_deployment_role(stack, deployment, log_group)


def narrow_page_deployment_role(
    stack: LookalikeStack, deployment: s3deploy.BucketDeployment, log_group: logs.LogGroup
) -> None:
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
    statements_ = stack.resolve(policy.document)["Statement"]
    for index, statement in enumerate(statements_):
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        if any(action.startswith("cloudfront:") for action in actions):
            policy.node.default_child.add_property_override(
                f"PolicyDocument.Statement.{index}.Resource", stack.distribution_arn
            )
