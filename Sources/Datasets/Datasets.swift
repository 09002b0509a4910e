/// Dataset manifests, format adapters, samplers and synthetic datasets.
public enum DatasetsModule {}
