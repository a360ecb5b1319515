"""The `forgeml` command: server roles, administration and tenant verbs in one Typer app."""

from __future__ import annotations

import typer

from forgeml.cli import algorithms, datasets, demo, identity, server
from forgeml.cli import checkpoints as checkpoints_cli
from forgeml.cli import jobs as jobs_cli
from forgeml.cli import usage as usage_cli
from forgeml.cli import webhooks as webhooks_cli

app = typer.Typer(
    name="forgeml",
    help="ForgeML: multi-tenant ML training platform. `forgeml up` starts everything locally.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)

app.command()(server.up)
app.command()(server.server)
app.command()(server.worker)
app.command()(server.migrate)
app.add_typer(server.config_app, name="config")
app.add_typer(server.admin_app, name="admin")
app.command()(identity.login)
app.command()(identity.logout)
app.command()(identity.whoami)
app.add_typer(identity.tenant_app, name="tenant")
app.add_typer(identity.user_app, name="user")
app.add_typer(identity.token_app, name="token")
app.add_typer(identity.audit_app, name="audit")
app.add_typer(identity.profile_app, name="profile")
app.add_typer(datasets.dataset_app, name="dataset")
app.add_typer(datasets.platform_app, name="platform-dataset")
app.add_typer(datasets.grant_app, name="grant")
app.add_typer(algorithms.algorithm_app, name="algorithm")
app.add_typer(webhooks_cli.webhook_app, name="webhook")
app.add_typer(webhooks_cli.events_app, name="events")
app.add_typer(jobs_cli.job_app, name="job")
app.add_typer(jobs_cli.model_app, name="model")
app.add_typer(checkpoints_cli.checkpoint_app, name="checkpoint")
app.add_typer(usage_cli.quota_app, name="quota")
app.add_typer(usage_cli.usage_app, name="usage")
app.command()(demo.demo)

if __name__ == "__main__":
    app()
