"""GraphQL for services, through strawberry: a schema from ``Query``/``Mutation`` and one request runner.

Resolvers get the `Service` instance as their root value (``self`` in a strawberry method
resolver, and ``info.context``), so they read ``self.state`` and call
``self.runtime.schedule_operation(...)`` in mutations.
"""

from __future__ import annotations

from typing import Any

import strawberry


def build_schema(query: type, mutation: type | None = None) -> strawberry.Schema:
    """A strawberry schema from an application's ``Query`` (and optional ``Mutation``) types."""
    return strawberry.Schema(query=query, mutation=mutation)


def run_graphql(
    schema: strawberry.Schema, request: str | dict[str, Any], root: object
) -> dict[str, Any]:
    """Execute ``request`` (a query string or ``{"query", "variables", "operationName"}``).

    Returns ``{"data": …}`` and, when something failed, ``"errors": [{"message": …}, …]``.
    """
    if isinstance(request, str):
        query, variables, operation_name = request, None, None
    else:
        query = request.get("query", "")
        variables = request.get("variables")
        operation_name = request.get("operationName")
    result = schema.execute_sync(
        query,
        variable_values=variables,
        root_value=root,
        context_value=root,
        operation_name=operation_name,
    )
    response: dict[str, Any] = {"data": result.data}
    if result.errors:
        response["errors"] = [{"message": error.message} for error in result.errors]
    return response
