"""The floors, checked by import-linter in ``make lint``: composition (``instance``) > web | gateway | services
> contracts > runtime (``clustergrowth``) | the allocation engine (``allocation``, a pure algorithm package
that knows no service and no runtime), and no service imports another. The contract is written from
the registry each time, so a new service is held to it without editing this file. The web client (``web``)
reaches the platform only through its public HTTP API: it may use the runtime (settings, the development
issuer for demo personas) and nothing of the contracts, services or gateway."""

from __future__ import annotations

import sys
from pathlib import Path

from importlinter.cli import lint_imports

from instance.registry import SERVICES

ROOTS = ["allocation", "clustergrowth", "contracts", "gateway", "services", "instance", "web"]
FLOORS = ["instance", "web | gateway | services", "contracts", "clustergrowth | allocation"]


def config() -> str:
    def block(lines: list[str]) -> str:
        return "".join(f"\n    {x}" for x in lines)

    return (
        "[importlinter]\n"
        f"root_packages ={block(ROOTS)}\n"
        "include_external_packages = False\n\n"
        "[importlinter:contract:floors]\n"
        "name = floors: composition > web | gateway | services > contracts > runtime | allocation engine\n"
        "type = layers\n"
        f"layers ={block(FLOORS)}\n\n"
        "[importlinter:contract:web]\n"
        "name = the web client talks to the platform through its HTTP API only: no contract, service or gateway\n"
        "type = forbidden\n"
        f"source_modules ={block(['web'])}\n"
        f"forbidden_modules ={block(['contracts', 'services', 'gateway', 'allocation'])}\n\n"
        "[importlinter:contract:services]\n"
        "name = no service imports another\n"
        "type = independence\n"
        f"modules ={block(list(SERVICES))}\n"
    )


def main() -> int:
    path = Path(".cache") / "import-linter.ini"
    path.parent.mkdir(exist_ok=True)
    path.write_text(config())
    return lint_imports(config_filename=str(path), no_cache=True)


if __name__ == "__main__":
    sys.exit(main())
