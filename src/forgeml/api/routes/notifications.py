"""The caller's own notification preferences (which e-mails they want)."""

from __future__ import annotations

from forgeml.api.deps import CurrentActor, Svc
from forgeml.api.notify_schemas import NotificationPrefsOut, NotificationPrefsUpdate
from forgeml.api.routing import Routes

api = Routes("/me/notification-preferences", tags=["notifications"], errors=(401, 403))
router = api.router


@api.route("GET", "notification_prefs.get", NotificationPrefsOut)
def get_prefs(actor: CurrentActor, svc: Svc) -> NotificationPrefsOut:
    """E-mail preferences; both are off until the user opts in."""
    return NotificationPrefsOut.model_validate(svc.notifications.get(actor))


@api.route("PUT", "notification_prefs.update", NotificationPrefsOut, errors=(422,))
def put_prefs(body: NotificationPrefsUpdate, actor: CurrentActor, svc: Svc) -> NotificationPrefsOut:
    """Set the given preferences (omitted ones keep their value)."""
    changes = {k: v for k, v in body.model_dump(exclude_unset=True).items() if v is not None}
    return NotificationPrefsOut.model_validate(svc.notifications.update(actor, changes))
