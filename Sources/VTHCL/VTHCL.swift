/// VTHCL pretraining: memory banks, tempo-contrastive losses, ICM.
public enum VTHCLModule {}
