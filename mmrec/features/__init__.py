"""Typed multi-field CTR features: declarations, the fitted feature map, streaming encoding, the feature layer."""

from mmrec.features.errors import FeatureError
from mmrec.features.feature_map import Entry, FeatureMap, frame_chunks
from mmrec.features.reader import encode_file, encode_splits, fit_file, read_chunks
from mmrec.features.schema import FIELD_TYPES, Field, parse_field, parse_fields

__all__ = ["FIELD_TYPES", "Entry", "FeatureError", "FeatureMap", "Field", "encode_file", "encode_splits", "fit_file",
           "frame_chunks", "parse_field", "parse_fields", "read_chunks"]
