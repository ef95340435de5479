"""Breaking the bridge on purpose and counting: chaos, SIGKILL, outages and hostile input."""
