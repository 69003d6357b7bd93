"""``python -m gitkube.agents.proxy``: the proxy's data plane process (dataplane.main)."""

from gitkube.agents.proxy.dataplane import main

main()
