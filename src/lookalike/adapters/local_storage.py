"""Object storage in a local directory, with S3-style presigned POST uploads signed by HMAC-SHA256.

The browser uploads straight to ``POST /storage/upload`` (multipart form: the presigned fields, then
``file``), exactly as it would to an S3 bucket, so the page does not care which adapter is in use.
The policy binds the key, the expiry, the allowed size range and the content type; the signature is
an HMAC of the base64 policy, so a signature for one key cannot be replayed for another.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import json
import os
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from lookalike.adapters.private_files import private_dir, private_file, write_private
from lookalike.adapters.upload_ledger import KeyUsed, OverQuota, Quota, UploadLedger
from lookalike.errors import UploadRefused
from lookalike.media import MEDIA_TYPES
from lookalike.service.ports import PresignedUpload, valid_key

ALGORITHM = "LOOKALIKE-HMAC-SHA256"


def load_secret(home: Path, configured: str = "") -> bytes:
    """The configured secret, or one generated once per data directory and kept there (mode 0600)."""
    if configured:
        return configured.encode()
    private_dir(home)
    path = home / "secret"
    try:
        value = path.read_text().strip().encode()
        private_file(path)  # made readable by an older version: tightened
        return value
    except FileNotFoundError:
        pass
    value = secrets.token_hex(32)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process made it first
        return path.read_text().strip().encode()
    with os.fdopen(fd, "w") as f:
        f.write(value)
    return value.encode()


@dataclass
class LocalStorage:
    """Keeps objects under ``root``; ``url`` is where the upload endpoint is served."""

    root: Path
    secret: bytes
    url: str = "/storage/upload"
    max_bytes: int = 25 * 1024 * 1024
    expires_seconds: int = 300
    allowed_types: tuple[str, ...] = MEDIA_TYPES
    ledger: UploadLedger = field(init=False, repr=False)

    def __post_init__(self) -> None:
        private_dir(self.root, tighten=True)
        self.ledger = UploadLedger(self.root / "ledger.sqlite")  # used keys and waiting bytes, for every process

    # -- ObjectStorage ---------------------------------------------------------------------

    def presign_upload(self, key: str, content_type: str | None = None) -> PresignedUpload:
        if not valid_key(key):
            raise ValueError(f"not a valid upload key: {key!r}")
        expires = int(time.time()) + self.expires_seconds
        conditions: list[object] = [{"key": key}, ["content-length-range", 1, self.max_bytes]]
        if content_type:
            conditions.append({"Content-Type": content_type})
        else:
            conditions.append(["starts-with", "$Content-Type", "image/"])
        policy = {"expiration": expires, "conditions": conditions}
        policy_b64 = base64.b64encode(json.dumps(policy, separators=(",", ":")).encode()).decode()
        fields = {
            "key": key,
            "policy": policy_b64,
            "x-amz-algorithm": ALGORITHM,
            "x-amz-signature": self._sign(policy_b64),
        }
        if content_type:
            fields["Content-Type"] = content_type
        return PresignedUpload(
            key=key,
            url=self.url,
            fields=fields,
            expires_at=float(expires),
            max_bytes=self.max_bytes,
            allowed_types=list(self.allowed_types),
        )

    def get(self, key: str) -> bytes | None:
        try:
            return self._path(key).read_bytes()
        except (FileNotFoundError, ValueError):
            return None

    def exists(self, key: str) -> bool:
        try:
            return self._path(key).is_file()
        except ValueError:
            return False

    def delete(self, key: str) -> None:
        with contextlib.suppress(ValueError):
            self._path(key).unlink(missing_ok=True)
            self.ledger.release(key)

    def sweep(self, older_than_seconds: float, taken: Callable[[str], bool] | None = None) -> int:
        """Delete photos never submitted: those whose presign has expired and that no job has taken
        (``taken(key)``), and any file older than ``older_than_seconds``; returns how many."""
        removed = 0
        for key in self.ledger.expired_waiting():
            if taken is None or not taken(key):
                self.delete(key)
                removed += 1
        cutoff = time.time() - older_than_seconds
        for path in (self.root / "uploads").glob("*"):
            with contextlib.suppress(FileNotFoundError):
                if path.stat().st_mtime < cutoff:
                    path.unlink()
                    self.ledger.release(f"uploads/{path.name}")
                    removed += 1
        return removed

    # -- the upload endpoint's half ----------------------------------------------------------

    def accept_upload(self, form: dict[str, str], data: bytes, client: str = "", quota: Quota = Quota()) -> str:
        """Check the form against its signed policy and store ``data``; returns the key.

        Raises :class:`UploadRefused` for a forged or replayed signature, an expired policy, a key
        that is not ours, a size or content type outside the policy, a key used before (even if its
        photo has been matched and deleted since), or bytes over ``client``'s or everyone's quota.
        """
        key, policy_b64, signature = form.get("key", ""), form.get("policy", ""), form.get("x-amz-signature", "")
        if not policy_b64 or not signature:
            raise UploadRefused(403, "unsigned", "The upload has no policy or signature; ask for a new upload URL.")
        if not hmac.compare_digest(self._sign(policy_b64), signature):
            raise UploadRefused(403, "bad_signature", "The upload signature is not valid.")
        try:
            policy = json.loads(base64.b64decode(policy_b64, validate=True))
        except ValueError:
            raise UploadRefused(400, "bad_policy", "The upload policy cannot be read.") from None
        if float(policy.get("expiration", 0)) < time.time():
            raise UploadRefused(403, "expired", "The upload URL has expired; ask for a new one.")
        if not valid_key(key):
            raise UploadRefused(400, "bad_key", "The upload key is not one this server makes.")
        content_type = form.get("Content-Type", "")
        for condition in policy.get("conditions", []):
            if isinstance(condition, dict):
                for name, expected in condition.items():
                    actual = key if name == "key" else form.get(name, "")
                    if actual != expected:
                        code = "key_mismatch" if name == "key" else "bad_content_type"
                        status = 403 if name == "key" else 415
                        raise UploadRefused(status, code, f"The upload's {name} does not match its signed policy.")
            elif condition[0] == "content-length-range":
                low, high = int(condition[1]), int(condition[2])
                if len(data) > high:
                    raise UploadRefused(
                        413, "too_large", f"The file is {len(data) / 2**20:.1f} MB; the limit is {high / 2**20:.0f} MB."
                    )
                if len(data) < low:
                    raise UploadRefused(400, "empty", "The file is empty.")
            elif condition[0] == "starts-with" and not form.get(condition[1].lstrip("$"), "").startswith(condition[2]):
                raise UploadRefused(415, "bad_content_type", "Only photos can be uploaded.")
        if content_type not in self.allowed_types:
            raise UploadRefused(
                415,
                "bad_content_type",
                f"Files of type {content_type or 'unknown'!r} are not accepted; upload a photo "
                "(JPEG, PNG, WebP, GIF, HEIC, AVIF, BMP or TIFF).",
            )
        self._claim(key, client, len(data), float(policy.get("expiration", 0)), quota)
        try:
            self._write(key, data)
        except BaseException:
            self.ledger.unclaim(key)
            raise
        return key

    def _claim(self, key: str, client: str, size: int, expires_at: float, quota: Quota) -> None:
        try:
            self.ledger.claim(key, client, size, expires_at, quota)
        except KeyUsed:
            raise UploadRefused(409, "exists", "This upload URL has already been used.") from None
        except OverQuota as over:
            wait = f"try again in {over.retry_after:.0f} s"
            if over.scope == "client":
                status, code, text = 429, "quota_exceeded", f"Too many of your photos wait to be matched; {wait}."
            else:
                status, code, text = 507, "storage_full", f"The server has no room for more photos; {wait}."
            raise UploadRefused(status, code, text, over.retry_after) from None

    def _write(self, key: str, data: bytes) -> None:
        path = self._path(key)
        private_dir(path.parent, tighten=True)
        tmp = path.with_name(path.name + ".part")
        try:
            write_private(tmp, data)  # exclusive: refuse a second upload racing the first
        except FileExistsError:
            raise UploadRefused(409, "exists", "This upload URL has already been used.") from None
        if path.exists():
            tmp.unlink()
            raise UploadRefused(409, "exists", "This upload URL has already been used.")
        tmp.rename(path)

    # -- helpers -------------------------------------------------------------------------------

    def _sign(self, policy_b64: str) -> str:
        return hmac.new(self.secret, policy_b64.encode(), hashlib.sha256).hexdigest()

    def _path(self, key: str) -> Path:
        if not valid_key(key):
            raise ValueError(f"not a valid key: {key!r}")
        path = (self.root / key).resolve()
        if not path.is_relative_to(self.root.resolve()):
            raise ValueError(f"key escapes the storage directory: {key!r}")
        return path
