"""Azure Functions entry point (Python v2 programming model): wiring only.

At import it loads the flows folder (FLOWS_DIR, default `flows/`) and registers
- one timer function per enabled, scheduled flow (`flow_<name>`; portal overrides via
  the `FLOW_SCHEDULE__<name>` app setting), each running the flow through `shared`;
- the HTTP routes of `shared.api.routes` (webhooks, flow list, run history, pages),
  all with function-key auth;
- a daily timer that deletes run records older than RUNS_RETENTION_DAYS;
- `run_queued_flow` on the `flow-runs` queue (every run, when host storage is
  configured) and `record_poisoned_run` on its poison queue.
A broken flow file is logged and listed as invalid by GET /api/flows; the others run.
All logic lives in the `shared` package. Heavy libraries (matplotlib, pandas, duckdb)
are imported only when a step needs them, to keep cold starts short.

Cold start: the flows folder is read through the flow cache in `STATE_DIR/cache`
(`shared.loader.flow_cache`): unchanged files are neither parsed nor checked again, and
the timers are registered from each flow's head (name, switch, schedule, zone), so a
start from the cache builds no step model and imports neither the actions nor Jinja2;
the first run (or page) that needs a flow reads it. A new instance, whose cache is
empty, starts the same way from the shipped cache the deployment package carries
(`flows/.flow-cache.json`, written by `python -m shared build-cache flows`).
"""

import logging
from pathlib import Path

import azure.functions as func

from shared.api.routes import ROUTES, Route
from shared.loader import flow_cache
from shared.queue import POISON_QUEUE, RUN_QUEUE, queue_for
from shared.service import FlowService
from shared.settings import Settings
from shared.timers import (
    CLEANUP_SCHEDULE,
    TimerSpec,
    cleanup_runs,
    run_scheduled,
    scheduled_flows,
)

log = logging.getLogger("kusto_flows")


def _add_route(app: func.FunctionApp, service: FlowService, route: Route) -> None:
    def handler(req: func.HttpRequest) -> func.HttpResponse:
        return route.call(service, req)

    app.function_name(route.name)(app.route(
        route=route.template, methods=[route.method],
        auth_level=func.AuthLevel.FUNCTION)(handler))


def _add_timer(app: func.FunctionApp, service: FlowService, spec: TimerSpec) -> None:
    def handler(timer: func.TimerRequest) -> None:
        run = run_scheduled(service, spec, past_due=timer.past_due)
        if run is not None:
            log.info("flow %s run %s: %s", spec.flow, run.run_id, run.status)

    app.function_name(spec.function_name)(app.schedule(
        arg_name="timer", schedule=spec.utc_schedule, run_on_startup=False,
        use_monitor=True)(handler))


def _add_cleanup(app: func.FunctionApp, service: FlowService) -> None:
    def handler(timer: func.TimerRequest) -> None:
        cleanup_runs(service)

    app.function_name("cleanup_run_history")(app.schedule(
        arg_name="timer", schedule=CLEANUP_SCHEDULE, run_on_startup=False)(handler))


def _add_queue(app: func.FunctionApp, service: FlowService) -> None:
    def run_queued_flow(message: func.QueueMessage) -> None:
        run = service.run_message(message.get_body())
        if run is not None:
            log.info("flow %s run %s: %s", run.flow, run.run_id, run.status)

    def record_poisoned_run(message: func.QueueMessage) -> None:
        service.record_poisoned(message.get_body(), message.dequeue_count or 0)

    for name, queue, handler in (("run_queued_flow", RUN_QUEUE, run_queued_flow),
                                 ("record_poisoned_run", POISON_QUEUE, record_poisoned_run)):
        app.function_name(name)(app.queue_trigger(
            arg_name="message", queue_name=queue, connection="AzureWebJobsStorage")(handler))


def create_app(settings: Settings | None = None) -> func.FunctionApp:
    """A Functions app over the flows folder of *settings* (default: app settings). With
    host storage configured (AzureWebJobsStorage) runs are queued on `flow-runs`."""
    # Relative folders (FLOWS_DIR, ...) are read against this file's folder: the
    # worker's current directory is not promised to be the app's.
    settings = settings or Settings.from_env(base_dir=Path(__file__).parent)
    with flow_cache(settings.state_dir / "cache"):
        service = FlowService.load(settings, queue=queue_for(settings))
    app = func.FunctionApp(http_auth_level=func.AuthLevel.FUNCTION)
    for route in ROUTES:
        _add_route(app, service, route)
    for spec in scheduled_flows(service):
        _add_timer(app, service, spec)
    _add_cleanup(app, service)
    _add_queue(app, service)
    return app


app = create_app()
