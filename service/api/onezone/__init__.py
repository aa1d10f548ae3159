"""The Onezone dialect: Onedata Onezone's REST token API under /api/v3/onezone.

Bodies, status codes and error ids follow Onezone's Swagger spec
(onedata/onezone-swagger) and ctool. Each route passes the GRI of its
resource (the spec's `x-onedata-gri`) to authentication, so that `api`
caveats of an access token are matched as Onezone matches them; `{user}`
stands for the token's subject.

One module per concern: `named` (the caller's named tokens, one by its id),
`client_tokens` (their deprecated face), `temporary`, `users` (the user
record, a user's tokens for the user or an admin, everyone's for an admin),
`tokens` (examine, confine, verify), and `shared` (docs, bodies, caveats,
who acts for whom).
"""

from __future__ import annotations

from aiohttp import web

from service.paths import ONEZONE_PREFIX as PREFIX

from . import client_tokens, named, temporary, tokens, users


def setup_routes(app: web.Application) -> None:
    """Register the routes."""
    r = app.router
    r.add_post(f"{PREFIX}/user/client_tokens", client_tokens.create_client_token)
    r.add_get(f"{PREFIX}/user/client_tokens", client_tokens.list_client_tokens, allow_head=False)
    r.add_delete(f"{PREFIX}/user/client_tokens/{{token}}", client_tokens.delete_client_token)
    r.add_post(f"{PREFIX}/user/tokens/named", named.create_named_token)
    r.add_get(f"{PREFIX}/user/tokens/named", named.list_named_tokens, allow_head=False)
    r.add_delete(f"{PREFIX}/user/tokens/named", named.delete_named_tokens)
    r.add_get(
        f"{PREFIX}/user/tokens/named/name/{{name}}",
        named.get_named_token_by_name,
        allow_head=False,
    )
    r.add_get(f"{PREFIX}/tokens/named/{{id}}", named.get_named_token, allow_head=False)
    r.add_patch(f"{PREFIX}/tokens/named/{{id}}", named.update_named_token)
    r.add_delete(f"{PREFIX}/tokens/named/{{id}}", named.delete_named_token)
    r.add_post(f"{PREFIX}/user/tokens/temporary", temporary.create_temporary_token)
    r.add_get(
        f"{PREFIX}/user/tokens/temporary", temporary.get_temporary_generation, allow_head=False
    )
    r.add_delete(f"{PREFIX}/user/tokens/temporary", temporary.revoke_temporary_tokens)
    r.add_post(f"{PREFIX}/tokens/examine", tokens.examine_token)
    r.add_post(f"{PREFIX}/tokens/confine", tokens.confine_token)
    r.add_post(f"{PREFIX}/tokens/verify_access_token", tokens.verify_access_token)
    r.add_post(f"{PREFIX}/tokens/verify_identity_token", tokens.verify_identity_token)
    r.add_post(f"{PREFIX}/tokens/verify_invite_token", tokens.verify_invite_token)
    r.add_get(f"{PREFIX}/tokens/named", users.list_all_named_tokens, allow_head=False)
    r.add_get(
        f"{PREFIX}/tokens/named/{{id}}/status", named.get_named_token_status, allow_head=False
    )
    of_user = f"{PREFIX}/users/{{id}}/tokens"
    r.add_post(f"{of_user}/named", users.create_named_token_for_user)
    r.add_get(f"{of_user}/named", users.list_named_tokens_of_user, allow_head=False)
    r.add_delete(f"{of_user}/named", users.delete_named_tokens_of_user)
    r.add_get(
        f"{of_user}/named/name/{{name}}", users.get_named_token_of_user_by_name, allow_head=False
    )
    r.add_post(f"{of_user}/temporary", users.create_temporary_token_for_user)
    r.add_get(f"{of_user}/temporary", users.get_temporary_generation_of_user, allow_head=False)
    r.add_delete(f"{of_user}/temporary", users.revoke_temporary_tokens_of_user)
    r.add_get(f"{PREFIX}/user", users.get_user, allow_head=False)
