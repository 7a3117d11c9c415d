"""Layer catalogue, loaders and sample data for routecheck districts."""
