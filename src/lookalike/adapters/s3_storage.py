"""Object storage on S3: the browser uploads with S3's own presigned POST, workers read and delete.

The bucket should also carry a lifecycle rule expiring ``uploads/`` after a day, so that photos
whose job never ran are not kept either.
"""

from __future__ import annotations

from typing import Any

from lookalike.media import MEDIA_TYPES
from lookalike.service.ports import PresignedUpload, valid_key


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
    ) -> None:
        if client is None:
            import boto3

            client = boto3.client("s3", endpoint_url=endpoint_url)
        self.client = client
        self.bucket = bucket
        self.max_bytes = max_bytes
        self.expires_seconds = expires_seconds
        self.allowed_types = allowed_types

    def presign_upload(self, key: str, content_type: str | None = None) -> PresignedUpload:
        """S3 checks the policy itself: key, expiry, size range and content type."""
        import time

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
        return PresignedUpload(
            key=key,
            url=post["url"],
            fields=dict(post["fields"]),
            expires_at=float(int(time.time()) + self.expires_seconds),
            max_bytes=self.max_bytes,
            allowed_types=list(self.allowed_types),
        )

    def get(self, key: str) -> bytes | None:
        if not valid_key(key):
            return None
        try:
            response = self.client.get_object(Bucket=self.bucket, Key=key)
        except self.client.exceptions.NoSuchKey:
            return None
        return response["Body"].read()

    def exists(self, key: str) -> bool:
        from botocore.exceptions import ClientError

        if not valid_key(key):
            return False
        try:
            self.client.head_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return False
            raise
        return True

    def delete(self, key: str) -> None:
        if valid_key(key):
            self.client.delete_object(Bucket=self.bucket, Key=key)
