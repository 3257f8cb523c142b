"""Training on Kubernetes clusters: the list of clusters, the objects a run needs, and the
one module that talks to a cluster's API server."""
