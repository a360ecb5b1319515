"""Algorithm catalog (cards) and the "Train" form generated from the chosen version's card."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response

from forgeml.domain.errors import InvalidInput, NotFound
from forgeml.domain.registry import AlgorithmVersion, AlgorithmWithVersions
from forgeml.web import jobs_submit
from forgeml.web.core import Ctx, Page, PortalRoute, redirect, service
from forgeml.web.trainform import (
    channel_errors,
    hyperparameter_fields,
    map_errors,
    posted_channels,
    posted_hyperparameters,
)

router = APIRouter(route_class=PortalRoute)


@router.get("/algorithms", name="portal.algorithms")
def catalog(ctx: Page) -> Response:
    if ctx.is_admin:
        return redirect("/admin/algorithms")
    cursor = ctx.request.query_params.get("cursor") or None
    page = ctx.svc.algorithms.cards(ctx.actor, include_deprecated=False, cursor=cursor, limit=50)
    return ctx.render("tenant/algorithms.html", algorithms=page)


def _pick_version(item: AlgorithmWithVersions, version_id: str | None) -> AlgorithmVersion:
    if not item.versions:
        raise NotFound("this algorithm has no published version")
    for v in item.versions:
        if v.id == version_id:
            return v
    return item.versions[0]  # newest first


def train_page(
    ctx: Ctx,
    algorithm_id: str,
    version_id: str | None,
    *,
    errors: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    item = ctx.svc.algorithms.card(ctx.actor, algorithm_id, include_deprecated=False)
    version = _pick_version(item, version_id)
    card: dict[str, Any] = version.card
    return ctx.render(
        "tenant/train.html",
        status,
        item=item,
        version=version,
        card=card,
        fields=hyperparameter_fields(card),
        channel_options=jobs_submit.channel_options(ctx, item.algorithm.name),
        checkpoint_locations=jobs_submit.checkpoint_locations(ctx),
        resource_classes=jobs_submit.resource_class_options(ctx, card),
        errors=errors or {},
        values=values or {},
        jobs_enabled=service(ctx.svc, "jobs") is not None,
        max_runtime_default=ctx.svc.settings.jobs.default_max_runtime_s // 60
        if hasattr(ctx.svc.settings, "jobs")
        else 60,
    )


@router.get("/algorithms/{algorithm_id}", name="portal.algorithm")
def detail(algorithm_id: str, ctx: Page) -> Response:
    """One algorithm's card in full: what it expects, what it reports, where it runs."""
    item = ctx.svc.algorithms.card(ctx.actor, algorithm_id, include_deprecated=False)
    version = _pick_version(item, ctx.request.query_params.get("version"))
    card: dict[str, Any] = version.card
    return ctx.render(
        "tenant/algorithm.html",
        item=item,
        version=version,
        card=card,
        fields=hyperparameter_fields(card),
    )


@router.get("/algorithms/{algorithm_id}/train", name="portal.algorithm.train")
def train_form(algorithm_id: str, ctx: Page) -> Response:
    return train_page(ctx, algorithm_id, ctx.request.query_params.get("version"))


@router.post("/algorithms/{algorithm_id}/train", name="portal.algorithm.train_submit")
def train_submit(algorithm_id: str, ctx: Page) -> Response:
    assert ctx.form is not None
    version_id = ctx.field("version_id") or None
    values = {k: v for k, v in ctx.form.items() if isinstance(v, str) and k != "csrf_token"}
    item = ctx.svc.algorithms.card(ctx.actor, algorithm_id, include_deprecated=False)
    version = _pick_version(item, version_id)
    hps = posted_hyperparameters(ctx.form)
    channels = posted_channels(ctx.form)
    errors = channel_errors(version.card, channels)
    errors.update(jobs_submit.basic_errors(ctx))
    try:
        hps = ctx.svc.algorithms.validate_hyperparameters(
            ctx.actor, version.id, hps, algorithm_id=algorithm_id
        )
    except InvalidInput as exc:
        errors.update(map_errors(exc.details.get("errors", [])))
    if not errors:
        try:
            job_id = jobs_submit.submit(ctx, item, version, hps, channels)
        except InvalidInput as exc:
            errors.update(map_errors(exc.details.get("errors", [])) or {"name": exc.message})
        else:
            return redirect(f"/jobs/{job_id}", "Training job submitted.")
    return train_page(ctx, algorithm_id, version.id, errors=errors, values=values, status=422)
