"""Object storage on S3: the browser uploads with S3's own presigned POST, workers read and delete.

Presigned POSTs are signed with SigV4 (``AWS4-HMAC-SHA256``): botocore still signs them with SigV2
by default in older regions, which buckets increasingly refuse and S3-compatible servers may not
implement. The policy pins the exact key, a size range of [1, max_bytes], the content type and a
short expiry, and it is the storage server that refuses an upload outside it.

The endpoint comes from boto3's own variables (``AWS_ENDPOINT_URL_S3``, then ``AWS_ENDPOINT_URL``)
unless one is passed. With a custom endpoint (an S3-compatible server or an emulator) buckets are
addressed by path (``http://host:port/bucket``), since ``bucket.host`` names rarely resolve there.
On AWS itself buckets are addressed by their regional virtual-hosted name, ``BUCKET.s3.REGION.amazonaws.com``,
in every region, us-east-1 included: botocore's default presigns POSTs against the global
``BUCKET.s3.amazonaws.com``, which answers a new bucket outside us-east-1 with a 307 redirect (a
browser's cross-origin POST does not follow it) and a bucket in an opt-in region with 400.

The bucket should also carry a lifecycle rule expiring ``uploads/`` after a day, so that photos
whose job never ran are not kept either.
"""

from __future__ import annotations

import os
import time
from typing import Any

from lookalike.media import MEDIA_TYPES
from lookalike.service.ports import PresignedUpload, valid_key

SIGV4_POST = "s3v4-presign-post"


def s3_client(endpoint_url: str | None = None, addressing_style: str | None = None) -> Any:
    """An S3 client that signs everything, presigned POSTs included, with SigV4."""
    import boto3
    from botocore.config import Config

    endpoint = endpoint_url or os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
    if endpoint:
        s3: dict[str, str] = {"addressing_style": addressing_style or "path"}
    else:  # AWS: https://BUCKET.s3.REGION.amazonaws.com/ (never the global endpoint)
        s3 = {"addressing_style": addressing_style or "virtual", "us_east_1_regional_endpoint": "regional"}
    config = Config(signature_version="s3v4", s3=s3)
    # endpoint_url=None lets boto3 read AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL (and config files) itself.
    return boto3.client("s3", endpoint_url=endpoint_url, config=config)


def _sigv4_post_signer(signature_version: str, **_: Any) -> str | None:
    """botocore ``choose-signer`` hook: a presigned POST is SigV4 whatever the client's default."""
    if signature_version.endswith("-presign-post") and not signature_version.startswith(("v4a", "v4-s3express")):
        return SIGV4_POST
    return None


def sign_posts_with_sigv4(client: Any) -> Any:
    """Make a caller's client presign POSTs with SigV4.

    A client made without ``Config(signature_version="s3v4")`` presigns POSTs with SigV2 in the
    regions that still allow it, and ``client.meta.config`` does not tell the two apart; this hook
    (more specific than botocore's SigV2 default, so it runs first) fixes it for PutObject POSTs only.
    """
    client.meta.events.register("choose-signer.s3.PutObject", _sigv4_post_signer, unique_id="lookalike-sigv4-post")
    return client


class S3Storage:
    def __init__(
        self,
        bucket: str,
        client: Any = None,
        *,
        max_bytes: int = 25 * 1024 * 1024,
        expires_seconds: int = 300,
        allowed_types: tuple[str, ...] = MEDIA_TYPES,
        endpoint_url: str | None = None,
        addressing_style: str | None = None,
    ) -> None:
        """``client``: a boto3 S3 client (its presigned POSTs are made SigV4); else one is made here.

        A bucket name with dots is addressed by path on AWS too (``s3.REGION.amazonaws.com/a.b``): as a
        host name, ``a.b.s3.REGION.amazonaws.com`` does not match S3's wildcard TLS certificate."""
        if client is None and addressing_style is None and "." in bucket:
            addressing_style = "path"
        self.client = sign_posts_with_sigv4(client) if client is not None else s3_client(endpoint_url, addressing_style)
        self.bucket = bucket
        self.max_bytes = max_bytes
        self.expires_seconds = expires_seconds
        self.allowed_types = allowed_types

    def presign_upload(self, key: str, content_type: str | None = None) -> PresignedUpload:
        """S3 checks the policy itself: signature, key, expiry, size range and content type.

        botocore adds the exact ``{"key": key}`` and ``{"bucket": ...}`` conditions itself.
        """
        if not valid_key(key):
            raise ValueError(f"not a valid upload key: {key!r}")
        conditions: list[Any] = [["content-length-range", 1, self.max_bytes]]
        fields: dict[str, str] = {}
        if content_type:
            conditions.append({"Content-Type": content_type})
            fields["Content-Type"] = content_type
        else:  # S3 policies cannot say "one of"; the engine refuses what is not a photo anyway
            conditions.append(["starts-with", "$Content-Type", "image/"])
        post = self.client.generate_presigned_post(
            self.bucket, key, Fields=fields, Conditions=conditions, ExpiresIn=self.expires_seconds
        )
        if "x-amz-signature" not in post["fields"]:  # e.g. a client made with signature_version=UNSIGNED
            raise RuntimeError("the S3 client did not sign the presigned POST with SigV4")
        return PresignedUpload(
            key=key,
            url=post["url"],
            fields=dict(post["fields"]),
            expires_at=float(int(time.time()) + self.expires_seconds),
            max_bytes=self.max_bytes,
            allowed_types=list(self.allowed_types),
        )

    def get(self, key: str) -> bytes | None:
        from botocore.exceptions import ClientError

        if not valid_key(key):
            return None
        try:
            response = self.client.get_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if _absent(exc):
                return None
            raise
        return response["Body"].read()

    def exists(self, key: str) -> bool:
        from botocore.exceptions import ClientError

        if not valid_key(key):
            return False
        try:
            self.client.head_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if _absent(exc):
                return False
            raise
        return True

    def delete(self, key: str) -> None:
        if valid_key(key):
            self.client.delete_object(Bucket=self.bucket, Key=key)


def _absent(exc: Exception) -> bool:
    """S3 answers 403, not 404, for a missing key when the caller may not list the bucket, and our roles
    may not (least privilege: GetObject on ``uploads/*`` only).  With GetObject granted on the key's
    prefix, 403 can only mean that the object is not there."""
    error = getattr(exc, "response", {}).get("Error", {})
    return str(error.get("Code")) in ("404", "NoSuchKey", "NotFound", "403", "AccessDenied", "Forbidden")
