"""Raster images of handwriting: canvas preprocessing and character segmentation."""
