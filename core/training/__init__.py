"""Training YOLO models on dataset versions: specs, the worker, its events, backends."""
