"""Bodies of Better Auth's team endpoints (app/teams). Ids are taken as text: a malformed one is TEAM_NOT_FOUND."""
from __future__ import annotations

from typing import Annotated, Any

from app.bodies import Body
from app.bodies.fields import Text
from app.bodies.requests import REQUIRED, OrgEcho

TeamName = Annotated[str, Text(max_len=200, null=REQUIRED)]
IdText = Annotated[str, Text(max_len=100, null=REQUIRED)]


class CreateTeam(Body):
    name: TeamName
    organizationId: OrgEcho = None


class TeamRef(Body):
    teamId: IdText
    organizationId: OrgEcho = None


class TeamChanges(Body):
    name: TeamName


class UpdateTeam(Body):
    teamId: IdText
    data: TeamChanges
    organizationId: OrgEcho = None


class SetActiveTeam(Body):
    """null clears the active team; absent keeps it (Better Auth answers the current one)."""

    teamId: Annotated[str, Text(max_len=100)] | None = None


class TeamMemberRef(Body):
    teamId: IdText
    userId: IdText
    organizationId: OrgEcho = None
    additionalFields: dict[str, Any] | None = None
