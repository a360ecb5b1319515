"""API tokens: everyone manages their own; tenant admins see and revoke their tenant's."""

from __future__ import annotations

from forgeml.api.deps import CurrentActor, IdQuery, Paging, Svc
from forgeml.api.routing import Routes
from forgeml.api.schemas import PageOut, TokenCreate, TokenCreated, TokenOut, page_of

api = Routes("/tokens", tags=["tokens"], errors=(401, 403), ids={"token_id": "token"})
router = api.router


@api.route("POST", "token.create", TokenCreated, status=201, errors=(404, 422))
def create_token(body: TokenCreate, actor: CurrentActor, svc: Svc) -> TokenCreated:
    """Create a token; the secret is in this response only and is stored as a hash."""
    new = svc.tokens.create(
        actor,
        name=body.name,
        scopes=body.scopes,
        expires_in_days=body.expires_in_days,
        user_id=body.user_id,
    )
    return TokenCreated(**TokenOut.model_validate(new.token).model_dump(), token=new.secret)


@api.route("GET", "token.list", PageOut[TokenOut], errors=(422,))
def list_tokens(
    actor: CurrentActor, svc: Svc, page: Paging, user_id: IdQuery = None
) -> PageOut[TokenOut]:
    res = svc.tokens.list(actor, user_id=user_id, cursor=page.cursor, limit=page.limit)
    return page_of(TokenOut.model_validate, res)


@api.route("GET /{token_id}", "token.get", TokenOut, errors=(404,))
def get_token(token_id: str, actor: CurrentActor, svc: Svc) -> TokenOut:
    return TokenOut.model_validate(svc.tokens.get(actor, token_id))


@api.route("DELETE /{token_id}", "token.revoke", TokenOut, errors=(404,))
def revoke_token(token_id: str, actor: CurrentActor, svc: Svc) -> TokenOut:
    """Revoke (idempotent); the token stops working immediately."""
    return TokenOut.model_validate(svc.tokens.revoke(actor, token_id))
