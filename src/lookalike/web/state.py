"""What the web app's routes share, built once per app and kept on ``app.state.web``."""

from __future__ import annotations

import threading
from dataclasses import dataclass

from starlette.requests import HTTPConnection

from lookalike.adapters.notifiers import HttpNotifier, internal_token
from lookalike.adapters.sqlite_ratelimit import SqliteRateLimiter
from lookalike.adapters.upload_ledger import Quota
from lookalike.gallery.store import Gallery
from lookalike.service.protocol import Conversation
from lookalike.service.uploads import UploadService
from lookalike.settings import Settings
from lookalike.web.clients import ClientAddress
from lookalike.web.connections import Hub, SocketLimits
from lookalike.web.limits import RateLimit
from lookalike.web.metrics import Metrics
from lookalike.web.sync_match import SyncMatcher
from lookalike.web.worker_pool import WorkerPool
from lookalike.wiring import Embedded, api_url_for, conversation, upload_service, worker_count


@dataclass
class WebState:
    """The embedded profile's ports and use cases, the gallery, the worker pool, the connections, and
    the limits and metrics every route counts against: one per app, closed when its lifespan ends."""

    settings: Settings
    endpoint: str  # where this server's connections live; jobs carry it to workers
    env: Embedded
    token: str  # what workers show to post events to connections
    mover: HttpNotifier  # tells a connection (here or on a server sharing the home) "moved"
    talk: Conversation
    uploads: UploadService
    gallery: Gallery
    gallery_lock: threading.Lock
    workers: int
    pool: WorkerPool | None
    hub: Hub
    sockets: SocketLimits
    metrics: Metrics
    clients: ClientAddress
    rate: RateLimit
    sync: SyncMatcher
    quota: Quota

    @classmethod
    def open(cls, settings: Settings, workers: int | None = None) -> WebState:
        """``workers``: processes to start (default: from settings; 0: none, for tests)."""
        endpoint = api_url_for(settings)
        env = Embedded.open(settings, channel=endpoint)
        mover = env.notifier(endpoint)
        gallery = Gallery.open(settings.gallery_path())
        count = worker_count(settings) if workers is None else workers
        pool = WorkerPool(settings, endpoint, count) if count > 0 else None
        metrics = Metrics(env.queue, lambda: pool.ready_count() if pool else 0)
        clients = ClientAddress(settings.trusted_proxies, settings.ipv6_client_prefix)
        limiter = SqliteRateLimiter(settings.home / "ratelimit.sqlite", settings.rate_limit_per_minute)
        return cls(
            settings=settings,
            endpoint=endpoint,
            env=env,
            token=internal_token(env.secret),
            mover=mover,
            talk=conversation(env.storage, env.queue, env.jobs, settings, mover),
            uploads=upload_service(env.storage),
            gallery=gallery,
            gallery_lock=threading.Lock(),
            workers=count,
            pool=pool,
            hub=Hub(),
            sockets=SocketLimits(settings.ws_max_per_client, settings.ws_idle_seconds, settings.job_ttl_seconds),
            metrics=metrics,
            clients=clients,
            rate=RateLimit(limiter, clients, metrics),
            sync=SyncMatcher(settings, settings.match_max_concurrent),
            quota=Quota(settings.upload_quota_client_bytes, settings.upload_quota_total_bytes),
        )

    def client_of(self, connection: HTTPConnection) -> str:
        """The client address of a request or a WebSocket (the key of its rate budget, quota and caps)."""
        return self.clients.of(connection.scope)

    def thumbnail(self, face_id: int) -> bytes | None:
        with self.gallery_lock:  # one SQLite connection, shared by the thread pool's threads
            return self.gallery.thumbnail(face_id)

    def aligned(self, face_id: int) -> bytes | None:
        with self.gallery_lock:
            return self.gallery.aligned(face_id)

    def close(self) -> None:
        """What the app holds besides its worker processes (those are stopped by the lifespan)."""
        self.sync.close()
        self.mover.close()
        self.gallery.close()
