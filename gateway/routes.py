"""The route table as documentation: who may call each route, generated from the OpenAPI description
(``x-roles``), so the document cannot drift from what the services enforce."""

from __future__ import annotations

from typing import Any

ROLE_NOTE = (
    "`any` = every authenticated caller; `public` = anyone, without a token; `platform_admin` passes every "
    "rule. Object-level rules come on top (another organisation's private objects are 404), see the service "
    "sections of the README."
)


def roles_markdown(spec: dict[str, Any]) -> str:
    lines = [
        "# Who may call what",
        "",
        "Generated from the gateway's OpenAPI description by `clustergrowth routes`; a test keeps it current.",
        ROLE_NOTE,
        "",
        "| method | path | roles | what |",
        "|---|---|---|---|",
    ]
    for path, ops in spec["paths"].items():
        if not path.startswith("/api/v1/"):
            continue
        for method, op in ops.items():
            roles = ", ".join(f"`{r}`" for r in op.get("x-roles", ["(none!)"]))
            lines.append(f"| {method.upper()} | `{path}` | {roles} | {op.get('summary', '')} |")
    return "\n".join(lines) + "\n"
