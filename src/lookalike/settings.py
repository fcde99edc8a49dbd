"""One settings object for the whole system.

Every field can be set by an environment variable named ``LOOKALIKE_<FIELD>``
(upper case); CLI flags override it.  Defaults are chosen so that a person who
sets nothing gets a working, safe system.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, get_args, get_type_hints


def _default_home() -> Path:
    """Where the system keeps its data (gallery, uploads, queue) by default."""
    xdg = os.environ.get("XDG_DATA_HOME")
    base = Path(xdg) if xdg else Path.home() / ".local" / "share"
    return base / "lookalike"


def _default_data_dir() -> Path:
    """The folder of real face photos used by tests, benchmarks and the demo gallery."""
    return Path("..") / "shared" / "data"


@dataclass(frozen=True)
class Settings:
    # Where things live.
    home: Path = field(default_factory=_default_home)
    gallery: Path | None = None  # default: <home>/gallery
    data_dir: Path = field(default_factory=_default_data_dir)

    # Decoding limits: protection against decompression bombs and huge uploads.
    max_pixels: int = 50_000_000
    max_upload_bytes: int = 25 * 1024 * 1024
    # Shapes no camera makes are refused before decoding (phone panoramas, ~4:1 to 9:1, pass).
    max_side: int = 20_000  # px, the long side
    max_aspect_ratio: float = 12.0  # long side / short side

    # Detection policy (see docs/engine.md).
    detector: str = "auto"  # "auto" (YuNet; else HOG then CNN), "yunet", "hog" or "cnn"
    detect_min_pixels: int = 500_000
    detect_max_pixels: int = 2_500_000
    upsample_limit_pixels: int = 1_000_000
    cnn_max_pixels: int = 400_000
    max_faces: int = 20
    models_dir: Path | None = None  # network files besides dlib's (``lookalike models install``); default <home>/models
    yunet_model: Path | None = None  # your own copy of the official YuNet file, instead of the installed one
    sface_model: Path | None = None  # your own copy of the official SFace file, instead of the installed one
    embedding: str = "fused"  # the face model: "fused" (dlib + SFace), "sface" or "dlib" (engine/embedding/)
    embed_flip: bool = False  # also embed each face's mirror image and average (a little more accurate, ~2x the time)

    # Matching.
    threshold: float = 0.6  # verification (1:1): same person within this distance (every model is scaled so)
    identity_threshold: float | None = None  # identification (1:N, "this is X"); None: the model's calibrated value
    identity_margin: float | None = None  # ... and at least this much closer than the next person; None: the model's
    top_k: int = 5
    # "Why you look alike" (engine/explain.py), when a request asks for it: the top this-many lookalikes
    # of each of the photo's this-many largest faces (about 0.3 s a face on 2 cores).
    explain_top: int = 3
    explain_faces: int = 4
    explain_looks: int = 1  # looks at each part (1, 3 or 5: shifted by a few px, averaged)
    explain_mirror: bool = False  # also explain the faces' mirror images and average (steadier, twice the time)
    ann_min_faces: int = 300_000  # use the approximate index at and above this gallery size
    # A public deployment: builds add, and searches show, only photos whose licence allows reuse with credit.
    require_reusable: bool = False
    removals: Path | None = None  # people taken out for good (gallery/removals.py); default <home>/removals.txt

    # Web app (``lookalike serve``): where it listens, how many matching processes, its limits.
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int | None = None  # matching processes of ``serve``; None (unset): one per CPU core; 0: none (API only)
    upload_secret: str = ""  # signs upload policies; empty: generated once and kept in <home>/secret
    upload_expires_seconds: int = 300
    rate_limit_per_minute: int = 60  # per client address, for uploads, matches and WebSocket messages
    ws_max_message_bytes: int = 4096
    # The largest event sent in one WebSocket message; a larger result is sent as where to fetch it
    # (``GET /api/jobs/{id}``).  API Gateway's limit, 128 KB, is the most it may be on AWS.
    ws_max_event_bytes: int = 128 * 1024
    job_ttl_seconds: int = 3600  # how long a job's result can be fetched or resumed
    visibility_timeout_seconds: float = 60.0  # a job not finished by then is given to another worker
    job_timeout_seconds: float = 60.0  # a job running longer fails as ``too_slow`` (never retried)
    max_receives: int = 3  # after this many deliveries a job goes to the dead-letter table
    worker_pause_seconds: float = 0.0  # tests only: a worker waits this long after "processing", first try

    # Public-server limits (docs/web.md, "Threat model").
    max_json_bytes: int = 8192  # request bodies of the JSON routes; a bigger one is refused (413) unread
    match_max_concurrent: int = 4  # synchronous /api/match calls running or waiting; more get 503
    trusted_proxies: str = ""  # addresses/networks (comma-separated) whose X-Forwarded-For is believed
    ipv6_client_prefix: int = 64  # an IPv6 client is its /64 (one home or server has one); IPv4: one address
    upload_quota_client_bytes: int = 100 * 1024 * 1024  # photos waiting for a match, per client address
    upload_quota_total_bytes: int = 2 * 1024 * 1024 * 1024  # ... and from everyone
    ws_idle_seconds: float = 120.0  # a WebSocket with no message and no job waiting is closed after this
    ws_max_per_client: int = 16  # open WebSockets per client address
    header_timeout_seconds: float = 10.0  # an HTTP connection must finish its request's headers within this
    # ... then its body at this average speed, counted from the headers after a grace of header_timeout_seconds
    min_body_bytes_per_second: int = 16 * 1024  # 0: no rule
    http_max_per_client: int = 32  # open HTTP connections per client address (trusted proxies exempt); 0: no cap

    # Which adapters: "embedded" (files and SQLite under ``home``) or "aws" (S3, SQS, DynamoDB, API Gateway).
    # On AWS boto3's own variables (AWS_REGION, AWS_ENDPOINT_URL, AWS_ENDPOINT_URL_S3, ...) apply too.
    profile: str = "embedded"
    uploads_bucket: str = ""  # aws: where browsers upload photos (keys ``uploads/<uuid>``)
    queue_url: str = ""  # aws: the SQS jobs queue
    dead_letter_queue_url: str = ""  # aws: its dead-letter queue (jobs that failed every delivery)
    jobs_table: str = ""  # aws: the DynamoDB table of jobs and results
    websocket_endpoint: str = ""  # aws: the @connections endpoint; empty: the one each job carries
    gallery_uri: str = ""  # s3://bucket/prefix/ of a pushed gallery (``gallery push``); empty: ``gallery``
    # Page origins allowed to open the WebSocket and (embedded) to send POST/PUT/PATCH/DELETE, comma-separated.
    # aws: the deploy sets the page's (empty: any); embedded: the server's own host always is, add the public
    # origin when a proxy rewrites ``Host``.  Browsers always send Origin on a WebSocket handshake and on a
    # POST; a request without one (a script) is let in.
    websocket_origins: str = ""
    thumbnail_url: str = "/api/faces/{face_id}/thumbnail"  # what results link a gallery face's thumbnail as
    aligned_url: str = "/api/faces/{face_id}/aligned"  # what results link a gallery face's aligned face as
    worker_health_file: Path | None = (
        None  # ``lookalike worker`` touches it while healthy; default <home>/worker.health
    )
    worker_health_seconds: float = 60.0  # ``lookalike worker --check`` fails when the file is older than this

    # The famous-people gallery's sources (``gallery/wikidata.py``, ``gallery/commons.py``).
    wikidata_sparql_url: str = "https://query.wikidata.org/sparql"  # a SPARQL 1.1 Protocol endpoint
    commons_api_url: str = "https://commons.wikimedia.org/w/api.php"  # a MediaWiki API (imageinfo)
    # Who runs the download (an e-mail address or a URL): sent in the User-Agent, as Wikimedia asks.
    # Required against the public Wikimedia services; stand-ins on other hosts accept its absence.
    contact: str = ""

    def gallery_path(self) -> Path:
        return self.gallery if self.gallery is not None else self.home / "gallery"

    def removals_path(self) -> Path:
        return self.removals if self.removals is not None else self.home / "removals.txt"

    def health_file(self) -> Path:
        return self.worker_health_file if self.worker_health_file is not None else self.home / "worker.health"

    def replace(self, **changes: Any) -> Settings:
        """A copy with some fields changed; ``None`` values are ignored (unset CLI flags)."""
        return dataclasses.replace(self, **{k: v for k, v in changes.items() if v is not None})

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        hints = get_type_hints(cls)
        values: dict[str, Any] = {}
        for f in fields(cls):
            raw = env.get(f"LOOKALIKE_{f.name.upper()}")
            if raw is None or raw == "":
                continue
            values[f.name] = _parse(f.name, hints[f.name], raw)
        return cls(**values)


def _parse(name: str, hint: Any, raw: str) -> Any:
    text = str(hint)
    args = [a for a in get_args(hint) if a is not type(None)]
    if len(args) == 1:  # ``X | None``: parsed as X
        hint = args[0]
    try:
        if "Path" in text:
            return Path(raw).expanduser()
        if hint is bool:
            if raw.lower() in ("1", "true", "yes", "on"):
                return True
            if raw.lower() in ("0", "false", "no", "off"):
                return False
            raise ValueError(raw)
        if hint is int:
            return int(raw.replace("_", ""))
        if hint is float:
            return float(raw)
        return raw
    except ValueError as exc:
        kind = getattr(hint, "__name__", str(hint))
        raise ValueError(f"LOOKALIKE_{name.upper()}={raw!r} is not a valid {kind}") from exc
