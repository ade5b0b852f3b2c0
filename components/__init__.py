"""ComponentResources of the egoengine Pulumi program, and the small pure helpers they need."""
