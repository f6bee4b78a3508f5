"""Ray Tune over charloom's training: search spaces, the trial function, the experiment, its report."""
