"""Pretrained encoders for the U-Net's contracting path (``--encoder``)."""
