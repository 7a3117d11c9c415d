"""routecheck's interfaces: the command line, the HTTP service and the map pages."""
