"""Resources: everything that differs by deployment (see ``deployments.build_resources``)."""
