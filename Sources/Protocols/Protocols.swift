/// Downstream protocols and their metrics.
public enum ProtocolsModule {}
