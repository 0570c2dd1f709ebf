"""Sequence models: the SASRec / BERT4Rec transformer, its config and builders."""

from segue.models.builders import bert4rec, sasrec
from segue.models.config import ModelConfig
from segue.models.param_groups import param_groups
from segue.models.transformer import KVCache, TrackTransformer

__all__ = ["KVCache", "ModelConfig", "TrackTransformer", "bert4rec", "param_groups", "sasrec"]
