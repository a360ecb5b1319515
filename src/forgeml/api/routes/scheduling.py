"""Resource classes (tenants read the enabled ones; platform admins define them) and the queue
overview for platform admins (runners with their capacity, queue depth per class).
"""

from __future__ import annotations

from forgeml.api.deps import CurrentActor, Svc
from forgeml.api.job_schemas import QueueOut, ResourceClassIn, ResourceClassOut, RunnerOut
from forgeml.api.routing import Routes

api = Routes(tags=["scheduling"], errors=(401, 403))
router = api.router


@api.route("GET /resource-classes", "resource_class.list", list[ResourceClassOut])
def list_classes(actor: CurrentActor, svc: Svc) -> list[ResourceClassOut]:
    return [ResourceClassOut.model_validate(c) for c in svc.scheduling.list_classes(actor)]


@api.route("PUT /admin/resource-classes", "resource_class.put", ResourceClassOut, errors=(422,))
def put_class(body: ResourceClassIn, actor: CurrentActor, svc: Svc) -> ResourceClassOut:
    """Create or replace a class by name; set `enabled: false` to retire one."""
    return ResourceClassOut.model_validate(svc.scheduling.put_class(actor, body.model_dump()))


@api.route("GET /admin/queue", "queue.overview", QueueOut)
def queue_overview(actor: CurrentActor, svc: Svc) -> QueueOut:
    o = svc.scheduling.overview(actor)
    return QueueOut(depth=o.depth, runners=[RunnerOut.model_validate(r) for r in o.runners])
