"""The roles of a multiprocess node as objects (see `role`), by name."""

from __future__ import annotations

from livenode.config.workers import RiskPlacement
from livenode.roles.data import DataRole
from livenode.roles.exec import ExecRole
from livenode.roles.risk import RiskRole
from livenode.roles.role import Rejoined, Role, RoleHost
from livenode.roles.trader import TraderRole

__all__ = ["ROLE_TYPES", "Rejoined", "Role", "RoleHost", "hosted_role_types", "hosted_roles",
           "role_type"]

ROLE_TYPES: dict[str, type[Role]] = {
    cls.name: cls for cls in (DataRole, ExecRole, TraderRole, RiskRole)
}


def role_type(name: str) -> type[Role]:
    """The role called `name` (its class: its facts are class attributes)."""
    try:
        return ROLE_TYPES[name]
    except KeyError:
        raise ValueError(f"unknown role {name!r}; expected one of {sorted(ROLE_TYPES)}") from None


def hosted_role_types(role: str, risk_placement: RiskPlacement = "worker") -> list[type[Role]]:
    """The roles a worker of `role` hosts, in hook order: its own, and risk when the
    configuration places the risk engine in this role's worker."""
    names = {role, RiskRole.name} if role == risk_placement else {role}
    return sorted((role_type(n) for n in names), key=lambda r: r.order)


def hosted_roles(role: str, risk_placement: RiskPlacement = "worker") -> list[Role]:
    """Fresh role objects for a worker of `role` (see `hosted_role_types`)."""
    return [cls() for cls in hosted_role_types(role, risk_placement)]
