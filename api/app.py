"""`create_app()`: all wiring in one place."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager

from litestar import Litestar
from litestar.openapi import OpenAPIConfig
from litestar.plugins.problem_details import ProblemDetailsConfig, ProblemDetailsPlugin
from litestar.stores.registry import StoreRegistry

from api.admin.routes import AccountController, AuditController, TeamController
from api.auth.credentials import Hasher
from api.auth.firebase import FirebaseVerifier
from api.auth.routes import auth_router
from api.body import json_body_request
from api.checkins.routes import CheckinController, crisis_resources
from api.checkins.staff_routes import AlertController, StaffCheckinController, WatchController
from api.circle.routes import CircleController, HelpNowController, HelpRequestController
from api.circle.staff_routes import StaffHelpNowController
from api.deps import DEPENDENCIES, Runtime, give_back_request_connection
from api.discussions.block_routes import BlockController
from api.discussions.channels_backend import live_channels
from api.discussions.live import LiveHub, LiveTicketController, group_live
from api.discussions.moderation_routes import ModerationController
from api.discussions.routes import GroupPostsController, PostController
from api.docs import DOCS_PATH, docs_asset, docs_page
from api.errors import EXCEPTION_HANDLERS
from api.groups.feeds import CalendarFeedController, PublicFeedController
from api.groups.routes import GroupController
from api.groups.session_routes import MySessionsController, SessionController
from api.groups.staff_routes import StaffGroupController
from api.headers import correct_allow_headers, cors_config, security_headers
from api.health import live, ready
from api.logs import logging_config
from api.me.routes import MeController
from api.metrics import count_answer, metrics_route, outermost, pool_sampler
from api.mfa.routes import TwoFactorController
from api.notifications.routes import (
    DeviceController,
    InboxController,
    PreferencesController,
    StaffNotificationController,
)
from api.openapi import document_problems, strict_struct_schemas
from api.participants.routes import DeletedParticipantController, ParticipantController
from api.rate_store import rate_limit_store
from api.security import build_jwt_auth, mfa_enrolment_gate
from api.settings import Settings
from api.shutdown import Drain
from api.system.routes import SystemStatusController
from api.timezones import learn_database_zones, timezones
from api.tracing import name_by_route, trace_sql, tracing_plugins
from db.pool import create_pool


def create_app(settings: Settings | None = None) -> Litestar:
    settings = settings or Settings.from_env()
    jwt_auth = build_jwt_auth(settings)
    drain = Drain(settings.shutdown_drain_s)
    tracing, tracer_provider = tracing_plugins(settings.tracing, settings.span_exporter)

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncGenerator[None, None]:
        app.state.pool = await create_pool(
            settings.database_url,
            max_size=settings.db_pool_max,
            statement_timeout_ms=settings.statement_timeout_ms,
            application_name="aftercare-api",
            reset_session=False,
        )
        await learn_database_zones(app.state.pool, settings.database_url)
        sql_spans = trace_sql(tracer_provider) if tracer_provider is not None else None
        app.state.drain = drain
        if settings.shutdown_drain_s:
            drain.install()
        app.state.live_hub = LiveHub(app.state.pool)
        firebase = FirebaseVerifier(settings.firebase_project_id) if settings.firebase_project_id else None
        app.state.runtime = Runtime(
            settings=settings,
            jwt_auth=jwt_auth,
            hasher=Hasher(settings.password_profile, settings.hash_concurrency, settings.hash_queue),
            firebase=firebase,
        )
        try:
            async with pool_sampler(app.state.pool):
                yield
        finally:
            if firebase is not None:
                firebase.close()
            await app.state.pool.close()
            if sql_spans is not None:
                sql_spans.uninstrument()
                tracer_provider.shutdown()  # sends what is still buffered

    app = Litestar(
        route_handlers=[
            live,
            ready,
            auth_router(settings),
            MeController,
            TwoFactorController,
            ParticipantController,
            DeletedParticipantController,
            AccountController,
            AuditController,
            TeamController,
            GroupController,
            StaffGroupController,
            SessionController,
            MySessionsController,
            PublicFeedController,
            CalendarFeedController,
            CheckinController,
            crisis_resources,
            StaffCheckinController,
            AlertController,
            WatchController,
            DeviceController,
            PreferencesController,
            InboxController,
            StaffNotificationController,
            SystemStatusController,
            GroupPostsController,
            PostController,
            BlockController,
            ModerationController,
            LiveTicketController,
            group_live,
            CircleController,
            HelpNowController,
            HelpRequestController,
            StaffHelpNowController,
            timezones,
            docs_asset,
            # Only with a token to ask for it (api/metrics.py); otherwise there is no /metrics.
            *([metrics_route(settings.metrics_token)] if settings.metrics_token else []),
        ],
        lifespan=[lifespan],
        # Sessions that must set up two-factor first reach only the routes that allow it.
        guards=[mfa_enrolment_gate],
        dependencies=DEPENDENCIES,
        # Inside the auth middleware: a connection its sign-in check took goes back even if the handler never runs.
        middleware=[give_back_request_connection],
        # The metrics' middleware after the auth's: each puts itself first, so it is outermost.
        on_app_init=[jwt_auth.on_app_init, outermost],
        plugins=[
            ProblemDetailsPlugin(ProblemDetailsConfig(enable_for_all_http_exceptions=False)),
            *strict_struct_schemas(),
            # Live discussion events to every API process (api/discussions/channels_backend.py).
            live_channels(settings),
            # Off unless AFTERCARE_TRACING=otlp (api/tracing.py).
            *tracing,
        ],
        # Our handlers turn every other exception into problem+json as well (api/errors.py).
        exception_handlers=EXCEPTION_HANDLERS,
        # Rate-limit counters: in memory, or in Redis when replicas share them (api/rate_store.py).
        stores=StoreRegistry({"rate_limit": rate_limit_store(settings)}),
        request_max_body_size=settings.max_body_bytes,
        # JSON bodies only, arriving in time; an unreadable one is a 400 (api/body.py).
        request_class=json_body_request(settings.body_timeout_s),
        # Closed unless AFTERCARE_CORS_ORIGINS lists web apps (api/headers.py).
        cors_config=cors_config(settings.cors_origins),
        before_send=[
            security_headers(DOCS_PATH),
            count_answer,
            drain.close_connections,
            *([name_by_route] if tracer_provider is not None else []),
        ],
        logging_config=logging_config(),
        openapi_config=OpenAPIConfig(
            title="Aftercare API",
            version="0.1.0",
            description="Backend for addiction-recovery aftercare: graduates, groups, check-ins, staff.",
            path=DOCS_PATH,
            render_plugins=[docs_page()],
        ),
        debug=False,
    )
    document_problems(app)
    correct_allow_headers(app)
    return app
