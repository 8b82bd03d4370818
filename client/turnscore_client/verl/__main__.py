"""``python -m turnscore_client.verl check``: fail loudly unless the plugin is registered in verl."""

from __future__ import annotations

import json
import sys


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args not in ([], ["check"]):
        print("usage: python -m turnscore_client.verl check", file=sys.stderr)
        return 2
    from . import PluginNotLoaded, check

    try:
        report = check()
    except PluginNotLoaded as e:
        print(f"turnscore verl plugin: FAILED: {e}", file=sys.stderr)
        return 1
    print("turnscore verl plugin: OK " + json.dumps(report, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
