"""Training: losses, the BERT4Rec masking transform and (later) the training loop."""
