"""Request and response models of checkpoint locations and of a job's checkpoint_config."""

from __future__ import annotations

from pydantic import Field

from forgeml.api.mirror import mirrors
from forgeml.api.schemas import Input, Output
from forgeml.domain.checkpoints import (
    DEFAULT_LOCAL_PATH,
    LOCATION_NAME_RE,
    MAX_DESCRIPTION,
    MAX_LOCAL_PATH,
    CheckpointFile,
    CheckpointLocation,
)


class LocationCreate(Input):
    # the charset in the schema; the ckpt_ prefix (a lookahead) only in check_location_name
    name: str = Field(
        min_length=1, max_length=100, pattern=LOCATION_NAME_RE.pattern, examples=["churn-ckpt"]
    )
    description: str = Field(default="", max_length=MAX_DESCRIPTION)


@mirrors(CheckpointLocation)
class LocationOut(Output):
    pass


@mirrors(CheckpointFile, exclude=("location_id", "object_key"))
class CheckpointFileOut(Output):
    pass


class CheckpointConfigIn(Input):
    """SageMaker's CheckpointConfig: the location (S3Uri) and where the program sees it."""

    location: str = Field(
        min_length=1, max_length=100, description="checkpoint location id (ckpt_…) or name"
    )
    local_path: str = Field(
        default=DEFAULT_LOCAL_PATH,
        max_length=MAX_LOCAL_PATH,
        description="absolute, under /opt/ml, no '..'; not in input/, code/, model/, output/",
    )


class CheckpointConfigOut(Output):
    location_id: str
    location_name: str
    local_path: str
