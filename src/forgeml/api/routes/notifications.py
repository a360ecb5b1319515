"""The caller's own notification preferences (which e-mails they want)."""

from __future__ import annotations

from fastapi import APIRouter

from forgeml.api.deps import CurrentActor, Svc
from forgeml.api.errors import responses
from forgeml.api.notify_schemas import NotificationPrefsOut, NotificationPrefsUpdate

router = APIRouter(prefix="/me/notification-preferences", tags=["notifications"])


@router.get(
    "",
    name="notification_prefs.get",
    response_model=NotificationPrefsOut,
    responses=responses(401, 403),
)
def get_prefs(actor: CurrentActor, svc: Svc) -> NotificationPrefsOut:
    """E-mail preferences; both are off until the user opts in."""
    return NotificationPrefsOut.model_validate(svc.notifications.get(actor))


@router.put(
    "",
    name="notification_prefs.update",
    response_model=NotificationPrefsOut,
    responses=responses(401, 403, 422),
)
def put_prefs(body: NotificationPrefsUpdate, actor: CurrentActor, svc: Svc) -> NotificationPrefsOut:
    """Set the given preferences (omitted ones keep their value)."""
    changes = {k: v for k, v in body.model_dump(exclude_unset=True).items() if v is not None}
    return NotificationPrefsOut.model_validate(svc.notifications.update(actor, changes))
