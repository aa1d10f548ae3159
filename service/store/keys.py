"""Every Redis key and channel name this service uses, in one place.

Keys that one script touches together share a hash tag (`{u:<user id>}` for a
user's state, `{a:<namespace>/<app>}` for an application's), so the same
scripts run on a single Redis, behind Sentinel and on Redis Cluster.
Keys without a TTL: users, usernames, owner hints, namespaces, role bindings,
applications.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Keys:
    """Key names under one prefix (settings `redis.key_prefix`)."""

    prefix: str = "ts"

    # users (no TTL)
    def user(self, uid: str) -> str:
        return f"{self.prefix}:{{u:{uid}}}:user"

    def username(self, name: str) -> str:
        return f"{self.prefix}:username:{name}"

    def users(self) -> str:
        return f"{self.prefix}:users"

    # a user's tokens and counters (TTL)
    def named_record(self, uid: str, tid: str) -> str:
        return f"{self.prefix}:{{u:{uid}}}:tok:{tid}"

    def name_index(self, uid: str) -> str:
        return f"{self.prefix}:{{u:{uid}}}:names"

    def owner_hints(self, hint: str) -> str:
        """The ids of the users whose id begins with `hint` (a named token's owner hint)."""
        return f"{self.prefix}:hint:{hint}"

    def owner_hints_built(self) -> str:
        """Set once every user existing before the hints were kept has one."""
        return f"{self.prefix}:hint:built"

    def link(self, uid: str, tid: str) -> str:
        """The lineage of a child token whose own record is elsewhere (or absent)."""
        return f"{self.prefix}:{{u:{uid}}}:link:{tid}"

    def temporary_generation(self, uid: str) -> str:
        return f"{self.prefix}:{{u:{uid}}}:tmpgen"

    def user_rate(self, uid: str, policy: str) -> str:
        return f"{self.prefix}:{{u:{uid}}}:rl:{policy}"

    def login_rate(self, username: str, ip: str) -> str:
        return f"{self.prefix}:{{l:{username}}}:rl:failed_login:{ip}"

    def ip_login_rate(self, ip: str) -> str:
        return f"{self.prefix}:{{i:{ip}}}:rl:failed_login_ip"

    # namespaces and role bindings (no TTL)
    def namespaces(self) -> str:
        return f"{self.prefix}:namespaces"

    def namespace(self, ns: str) -> str:
        return f"{self.prefix}:ns:{ns}"

    def roles(self, ns: str) -> str:
        # field <user id>: role; field gen:<user id>: the user's role generation
        # (moved on by every change of the binding; F5 records carry it).
        return f"{self.prefix}:ns:{ns}:roles"

    def apps(self, ns: str) -> str:
        return f"{self.prefix}:ns:{ns}:apps"

    # an application and its tokens
    def app(self, ns: str, app: str) -> str:
        return f"{self.prefix}:{{a:{ns}/{app}}}:app"

    def app_record(self, ns: str, app: str, tid: str) -> str:
        return f"{self.prefix}:{{a:{ns}/{app}}}:tok:{tid}"

    def app_rate(self, ns: str, app: str) -> str:
        return f"{self.prefix}:{{a:{ns}/{app}}}:rl:generate_token_app"

    # pub/sub
    def revocations(self) -> str:
        return f"{self.prefix}:revocations"
