"""The feed-health FastAPI app, mounted by the Airflow api-server under /epifeeds.

Airflow does not authenticate a plugin's FastAPI app: a Starlette mount inherits none of the core
API's dependencies. So the app itself depends, for every route, on the auth manager's own check
`requires_access_dag("GET", DagAccessEntity.RUN)` (a user who may read DAG runs may read what they
found). It reads the JWT from the `Authorization: Bearer` header or, in the browser, from the
`_token` cookie that Airflow's login sets. Without one: 401 for the JSON API, a redirect to Airflow's
login page for the HTML pages; never data.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from airflow.api_fastapi.auth.managers.models.resource_details import DagAccessEntity
from airflow.api_fastapi.core_api.security import requires_access_dag
from fastapi import Depends, FastAPI, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from epifeeds.settings import load_settings
from epifeeds_ui import checks, pages, queries

URL_PREFIX = "/epifeeds"
HOME = "/feed-health"
API = f"{HOME}/api"

app = FastAPI(
    title="epifeeds feed health",
    # The auth manager's access check on every route of this app (see the module docstring).
    dependencies=[Depends(requires_access_dag("GET", DagAccessEntity.RUN))],
    # FastAPI's own docs pages would sit outside the dependency: the JSON API is documented in docs/feed_health.md.
    docs_url=None,
    redoc_url=None,
    openapi_url=None,
)


@app.exception_handler(StarletteHTTPException)
async def refuse(request: Request, problem: StarletteHTTPException) -> Response:
    """No session on a page: off to Airflow's login, coming back here after. The JSON API just refuses."""
    no_session = problem.status_code == 401 or problem.detail in ("Invalid JWT token", "Token Expired")
    if no_session and not request.url.path.startswith(f"{request.scope.get('root_path', '')}{API}"):
        from airflow.api_fastapi.app import get_auth_manager

        back = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(get_auth_manager().get_url_login(next_url=back), status_code=303)
    return JSONResponse({"detail": problem.detail}, status_code=problem.status_code, headers=problem.headers)


def _dsn() -> str:
    return load_settings().warehouse_dsn


def _base(request: Request) -> str:
    return f"{request.scope.get('root_path', '')}{HOME}"


def _filters(city: str | None, feed: str | None, district: str | None) -> dict[str, str | None]:
    return {"city": city or None, "feed": feed or None, "district": district or None}


# --- JSON ------------------------------------------------------------------------------------------------------


@app.get(f"{API}/roster")
def roster_json(
    city: str | None = None,
    feed: str | None = None,
    district: str | None = None,
    date_from: Annotated[date | None, Query(alias="from")] = None,
    date_to: Annotated[date | None, Query(alias="to")] = None,
) -> dict[str, Any]:
    return queries.roster_heatmap(
        _dsn(), **_filters(city, feed, district), date_from=date_from, date_to=date_to
    )


@app.get(f"{API}/alerts")
def alerts_json(recent_days: int = Query(7, ge=0, le=366)) -> dict[str, Any]:
    return queries.alerts(_dsn(), recent_days=recent_days)


@app.get(f"{API}/reconciliation")
def reconciliation_json(district: str | None = None, rule: str | None = None) -> dict[str, Any]:
    return checks.reconciliation(_dsn(), district=district or None, rule=rule or None)


@app.get(f"{API}/freshness")
def freshness_json() -> dict[str, Any]:
    return checks.freshness(_dsn())


@app.get(API + "/reporters/{feed}/{reporter}")
def reporter_json(feed: str, reporter: str) -> dict[str, Any]:
    return checks.reporter_history(_dsn(), feed, reporter)


# --- pages -------------------------------------------------------------------------------------------------------


@app.get(HOME, response_class=HTMLResponse)
def roster_page(
    request: Request,
    city: str | None = None,
    feed: str | None = None,
    district: str | None = None,
    reporter: str | None = None,
    report_date: date | None = None,
    date_from: Annotated[date | None, Query(alias="from")] = None,
    date_to: Annotated[date | None, Query(alias="to")] = None,
) -> Response:
    if reporter and feed:  # an alert's link: straight to that reporter, on that day
        day = report_date.isoformat() if report_date else None
        return RedirectResponse(pages.reporter_url(_base(request), feed, reporter, day), status_code=303)
    chosen = _filters(city, feed, district)
    data = queries.roster_heatmap(_dsn(), **chosen, date_from=date_from, date_to=date_to)
    chosen |= {"from": date_from and date_from.isoformat(), "to": date_to and date_to.isoformat()}
    return HTMLResponse(pages.heatmap_page(_base(request), data, chosen))


@app.get(f"{HOME}/alerts", response_class=HTMLResponse)
def alerts_page(request: Request, recent_days: int = Query(7, ge=0, le=366)) -> HTMLResponse:
    return HTMLResponse(pages.alerts_page(_base(request), queries.alerts(_dsn(), recent_days=recent_days)))


@app.get(f"{HOME}/reconciliation", response_class=HTMLResponse)
def reconciliation_page(
    request: Request, district: str | None = None, rule: str | None = None
) -> HTMLResponse:
    data = checks.reconciliation(_dsn(), district=district or None, rule=rule or None)
    return HTMLResponse(pages.reconciliation_page(_base(request), data, {"district": district, "rule": rule}))


@app.get(f"{HOME}/freshness", response_class=HTMLResponse)
def freshness_page(request: Request) -> HTMLResponse:
    return HTMLResponse(pages.freshness_page(_base(request), checks.freshness(_dsn())))


@app.get(HOME + "/reporters/{feed}/{reporter}", response_class=HTMLResponse)
def reporter_page(
    request: Request, feed: str, reporter: str, report_date: date | None = None
) -> HTMLResponse:
    data = checks.reporter_history(_dsn(), feed, reporter)
    day = report_date.isoformat() if report_date else None
    return HTMLResponse(pages.reporter_page(_base(request), data, day))
